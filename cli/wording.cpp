#include "wording.h"

#include <string_view>
#include <utility>

namespace lmm::cli {

namespace {

// Library wording -> command-line wording, longest phrases first where they overlap.
constexpr std::pair<std::string_view, std::string_view> kWording[] = {
    {"set CompareOptions::reml to false", "drop --reml"},
    {"CompareOptions::reml", "--reml"},
    {"set CompareOptions::complete_cases", "use --complete-cases"},
    {"BootstrapOptions::replicates", "--boot"},
    {"refit with Method::REML", "drop --ml"},
    {"DdfMethod::Satterthwaite", "--ddf satterthwaite"},
};

}  // namespace

std::string in_cli_terms(std::string message) {
  for (const auto& [library, flag] : kWording)
    for (std::size_t at = message.find(library); at != std::string::npos; at = message.find(library, at + flag.size()))
      message.replace(at, library.size(), flag);
  return message;
}

}  // namespace lmm::cli
