// The bad-input corpus for the subcommands other than `fit` (tests/data/bad/commands.tsv): predict
// and simulate with damaged or foreign model files and unsuitable new data, reshape without a
// usable pattern, simulate with invalid options, report on bad input. Every case runs the lmm CLI
// and must give exactly the outcome the manifest names: a one-line `lmm: ` error with exit code 2,
// nothing on stdout and no output file left behind (a file that existed is unchanged), or a result
// with exit code 0 and no NaN or Inf in it.
//
// Saved models are made here at run time by `lmm fit --save` on the corpus's data, and damaged by
// editing their JSON (see kModels), so the cases follow the model format as it changes.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_runner.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using lmm::testing::CliRun;
using lmm::testing::has_non_finite;
using lmm::testing::run_cli;
using lmm::testing::slurp;

const fs::path kCorpus = fs::path(LMM_TEST_DATA) / "bad";

fs::path scratch() { return lmm::testing::scratch_dir("lmm_commands_"); }

// ---- saved models: a real one, and damaged copies ----

json fitted_model(const std::string& data, const std::string& formula) {
  const fs::path p = scratch() / ("fitted_" + std::to_string(std::hash<std::string>{}(data + formula)) + ".json");
  if (!fs::exists(p)) {
    const CliRun o = run_cli({"fit", (kCorpus / data).string(), formula, "--save", p.string()});
    if (o.code != 0) ADD_FAILURE() << "cannot make the model: " << o.err;
  }
  return json::parse(slurp(p));
}

json good() { return fitted_model("good.csv", "y ~ x + (1 | g)"); }
json factor() { return fitted_model("factor_arm.csv", "y ~ x + arm + (1 | g)"); }

// Each generator returns the file's text.
const std::map<std::string, std::function<std::string()>> kModels = {
    {"good", [] { return good().dump(1); }},
    {"factor", [] { return factor().dump(1); }},
    {"truncated",
     [] {
       const std::string s = good().dump(1);
       return s.substr(0, s.size() / 2);
     }},
    {"foreign", [] { return std::string(R"({"name": "some-package", "version": "1.0.0"})"); }},
    {"fit_json", [] { return slurp(kCorpus / "no_fixed_effects.json"); }},
    {"future_version",
     [] {
       json j = good();
       j["format_version"] = 2;
       return j.dump();
     }},
    {"beta_short",
     [] {
       json j = good();
       j["beta"].erase(1);
       return j.dump();
     }},
    {"fixed_names_renamed",
     [] {
       json j = good();
       j["fixed_names"][1] = "z";
       return j.dump();
     }},
    {"random_term_dropped",
     [] {
       json j = good();
       j["formula"] = "y ~ x + (1 | g) + (1 | x)";
       return j.dump();
     }},
    {"nobs_negative",
     [] {
       json j = good();
       j["data"]["nobs"] = -3;
       return j.dump();
     }},
    {"sigma_infinite",
     [] {
       json j = good();
       j["sigma"] = 12345.5;
       std::string s = j.dump();
       s.replace(s.find("12345.5"), 7, "1e400");
       return s;
     }},
    {"levels_empty",
     [] {
       json j = factor();
       j["factors"][0]["levels"] = json::array();
       return j.dump();
     }},
    {"name_newline",
     [] {
       json j = good();
       j["fixed_names"][1] = "x\ny";
       return j.dump();
     }},
    {"overflow",
     [] {
       json j = good();
       j["beta"] = {1e308, 1e308};
       return j.dump();
     }},
};

// ---- the manifest ----

struct Case {
  int line = 0;
  std::string args, expect;
  int exit = -1;
};

void PrintTo(const Case& c, std::ostream* os) { *os << "commands.tsv line " << c.line; }

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(kCorpus / "commands.tsv");
  int lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    Case c;
    c.line = lineno;
    const auto t1 = line.find('\t'), t2 = line.find('\t', t1 + 1);
    c.args = line.substr(0, t1);
    if (t1 != std::string::npos && t2 != std::string::npos) {
      c.exit = std::stoi(line.substr(t1 + 1, t2 - t1 - 1));
      c.expect = line.substr(t2 + 1);
    }
    cases.push_back(c);
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = "line" + std::to_string(info.param.line) + "_" + info.param.args.substr(0, 40);
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// Words separated by spaces; "..." keeps spaces. {bad}/F: a corpus file; @model:NAME: a generated
// model file; {out}: a file that must not exist afterwards; {old}: an existing file that must be
// unchanged afterwards.
struct Args {
  std::vector<std::string> argv;
  std::vector<fs::path> absent, unchanged;
};

constexpr const char* kOldContent = "previous content\n";

Args expand(const Case& c) {
  Args a;
  std::vector<std::string> words;
  std::string w;
  bool quoted = false, any = false;
  for (char ch : c.args) {
    if (ch == '"') {
      quoted = !quoted;
      any = true;
    } else if (ch == ' ' && !quoted) {
      if (any || !w.empty()) words.push_back(w);
      w.clear();
      any = false;
    } else {
      w += ch;
    }
  }
  if (any || !w.empty()) words.push_back(w);
  const std::string tag = "line" + std::to_string(c.line);
  for (std::string& word : words) {
    if (word.rfind("@model:", 0) == 0) {
      const std::string name = word.substr(7);
      const auto it = kModels.find(name);
      if (it == kModels.end()) {
        ADD_FAILURE() << "unknown model generator " << name;
        continue;
      }
      const fs::path p = scratch() / ("model_" + name + ".json");
      if (!fs::exists(p)) std::ofstream(p, std::ios::binary) << it->second();
      word = p.string();
    } else if (word.rfind("{bad}/", 0) == 0) {
      word = (kCorpus / word.substr(6)).string();
    } else if (word == "{out}") {
      const fs::path p = scratch() / (tag + "_out");
      fs::remove(p);
      a.absent.push_back(p);
      word = p.string();
    } else if (word == "{old}") {
      const fs::path p = scratch() / (tag + "_old");
      std::ofstream(p, std::ios::binary) << kOldContent;
      a.unchanged.push_back(p);
      word = p.string();
    } else if (word == "{nodir}") {
      word = (scratch() / "no_such_directory" / "out.html").string();
    }
    a.argv.push_back(word);
  }
  return a;
}

class Commands : public ::testing::TestWithParam<Case> {};

TEST_P(Commands, GiveTheExpectedOutcome) {
  const Case& c = GetParam();
  ASSERT_GE(c.exit, 0) << "commands.tsv line " << c.line << " is malformed";
  SCOPED_TRACE("commands.tsv line " + std::to_string(c.line) + ": " + c.args);
  const Args a = expand(c);
  const CliRun o = run_cli(a.argv);
  ASSERT_LT(o.code, 128) << "killed by signal " << o.code - 128 << "\n" << o.err.substr(0, 2000);
  ASSERT_NE(o.code, 3) << "internal error: " << o.err.substr(0, 2000);
  if (c.exit == 2) {
    EXPECT_EQ(o.code, 2) << o.err.substr(0, 2000);
    EXPECT_TRUE(o.out.empty()) << o.out.substr(0, 2000);
    EXPECT_EQ(o.err.rfind("lmm: ", 0), 0u) << o.err.substr(0, 2000);
    EXPECT_NE(o.err.find(c.expect), std::string::npos) << "stderr: " << o.err.substr(0, 2000);
    // One line, or for a formula three: the message, the formula and a caret under the fault.
    EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), o.err.rfind("lmm: formula:", 0) == 0 ? 3 : 1)
        << o.err.substr(0, 2000);
    for (const fs::path& p : a.absent) EXPECT_FALSE(fs::exists(p)) << p << " was written";
    for (const fs::path& p : a.unchanged) EXPECT_EQ(slurp(p), kOldContent) << p << " was changed";
    // No temporary file left next to the outputs either.
    for (const auto& e : fs::directory_iterator(scratch()))
      EXPECT_EQ(e.path().filename().string().find("tmp"), std::string::npos) << e.path();
    return;
  }
  EXPECT_EQ(o.code, c.exit) << o.err.substr(0, 2000);
  EXPECT_FALSE(o.out.empty());
  EXPECT_FALSE(has_non_finite(o.out)) << o.out.substr(0, 2000);
  if (c.expect == "-")
    EXPECT_TRUE(o.err.empty()) << o.err.substr(0, 2000);
  else
    EXPECT_NE(o.err.find(c.expect), std::string::npos) << "stderr: " << o.err.substr(0, 2000);
}

INSTANTIATE_TEST_SUITE_P(BadInput, Commands, ::testing::ValuesIn(load_cases()), case_name);

}  // namespace
