// The library's errors name option fields ("BootstrapOptions::replicates", "DdfMethod::Satterthwaite");
// each front end says the same with its own words: the command line with its flags, Python with
// its keyword arguments. Not a public header.
#pragma once
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace lmm::cli {

/// Library phrase -> the front end's phrase, longest phrases first where they overlap.
using Phrases = std::span<const std::pair<std::string_view, std::string_view>>;

/// `message` with every occurrence of each library phrase replaced, in the order of `phrases`.
std::string replace_phrases(std::string message, Phrases phrases);

/// `message` with the library's option names replaced by the flags that set them.
std::string in_cli_terms(std::string message);

}  // namespace lmm::cli
