// The library's errors name option fields ("BootstrapOptions::replicates", "DdfMethod::Satterthwaite");
// the command line says the same with its own flags. Not a public header.
#pragma once
#include <string>

namespace lmm::cli {

/// `message` with the library's option names replaced by the flags that set them.
std::string in_cli_terms(std::string message);

}  // namespace lmm::cli
