#include "wording.h"

namespace lmm::cli {

namespace {

constexpr std::pair<std::string_view, std::string_view> kWording[] = {
    {"set CompareOptions::reml to false", "drop --reml"},
    {"CompareOptions::reml", "--reml"},
    {"set CompareOptions::complete_cases", "use --complete-cases"},
    {"BootstrapOptions::replicates", "--boot"},
    {"refit with Method::REML", "drop --ml"},
    {"FitOptions::ddf KenwardRoger", "--ddf kenward-roger"},
    {"EmmeansOptions::ddf KenwardRoger", "--ddf kenward-roger"},
    {"DdfMethod::Satterthwaite", "--ddf satterthwaite"},
    {"ResidualOptions::sd_by", "--residual-sd-by"},
    {"ResidualOptions::time", "--residual"},
    {"ResidualOptions::group", "--residual"},
    {"ResidualOptions::structure", "--residual"},
    {"ModelFrameOptions::residual", "--residual"},
    {"ModelFrameOptions::weights", "--weights"},
    {"ModelFrameOptions::reference_levels: ", "--ref: "},
    {"GlmmOptions::family", "--family"},
    {"GlmmOptions::nagq", "--nagq"},
    {"GlmmOptions::link", "--link"},
};

}  // namespace

std::string replace_phrases(std::string message, Phrases phrases) {
  for (const auto& [library, own] : phrases)
    for (std::size_t at = message.find(library); at != std::string::npos; at = message.find(library, at + own.size()))
      message.replace(at, library.size(), own);
  return message;
}

std::string in_cli_terms(std::string message) { return replace_phrases(std::move(message), kWording); }

}  // namespace lmm::cli
