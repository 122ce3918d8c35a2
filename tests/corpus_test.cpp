// The bad-input corpus (tests/data/bad/cases.tsv): every case runs the lmm CLI and gets exactly the
// outcome the manifest names, either a one-line error with exit code 2 or a fit with (or without)
// a named warning. No case may crash, hang, or print NaN. Big inputs (a 10 MB line, 100,000
// columns, formulas of 10,000 characters and more) are generated here at run time.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli_runner.h"
#include "lmm/data.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using lmm::testing::CliRun;
using lmm::testing::has_non_finite;
using lmm::testing::slurp;

const fs::path kCorpus = fs::path(LMM_TEST_DATA) / "bad";

// Generated files are large (10 MB each): removed when the test program ends.
fs::path scratch() { return lmm::testing::scratch_dir("lmm_corpus_"); }

// Runs `lmm fit <args>` without a shell (formulas here are up to 100 kB and hold any byte).
CliRun run_fit(std::vector<std::string> args) {
  args.insert(args.begin(), "fit");
  return lmm::testing::run_cli(args);
}

// ---- generated data ----

std::string good_rows(const std::string& extra = "") {
  std::string s = slurp(kCorpus / "good.csv");
  if (extra.empty()) return s;
  std::string out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out += line + extra + "\n";
  return out;
}

// sleepstudy with one numeric column transformed: "@sleepstudy:Reaction*1e9", "...:Days+1e6".
std::string sleepstudy(const std::string& spec) {
  const auto colon = spec.find(':');
  const auto op = spec.find_first_of("*+", colon);
  const std::string col = spec.substr(colon + 1, op - colon - 1);
  const double c = std::stod(spec.substr(op + 1));
  const lmm::DataFrame d = lmm::read_table((fs::path(LMM_TEST_DATA) / "sleepstudy.csv").string());
  std::string s;
  for (std::size_t j = 0; j < d.columns.size(); ++j) s += (j ? "," : "") + d.columns[j].name;
  s += "\n";
  for (std::size_t i = 0; i < d.nrows; ++i) {
    for (std::size_t j = 0; j < d.columns.size(); ++j) {
      const lmm::Column& k = d.columns[j];
      if (j) s += ",";
      if (!k.is_numeric()) {
        s += k.levels[static_cast<std::size_t>(k.codes[i])];
      } else {
        double v = k.numbers[i];
        if (k.name == col) v = spec[op] == '*' ? v * c : v + c;
        s += fmt::format("{:.17g}", v);
      }
    }
    s += "\n";
  }
  return s;
}

std::string generate_data(const std::string& name) {
  if (name.rfind("@sleepstudy:", 0) == 0) return sleepstudy(name);
  if (name == "@ten_mb_line") {  // one line of 5,000,001 fields
    std::string s = "y,x,g\n";
    s.reserve(10'000'010);
    for (int i = 0; i < 5'000'000; ++i) s += "1,";
    return s + "\n";
  }
  if (name == "@ten_mb_field") {  // a 10 MB value in a column the model does not use
    std::string s = good_rows(",note");
    const auto second = s.find('\n', s.find('\n') + 1);
    s.insert(second, std::string(10'000'000, 'z'));  // the first data row's note
    return s;
  }
  if (name == "@ten_mb_name") {  // a 10 MB column name where the formula expects x
    std::string s = good_rows();
    s.replace(s.find("y,x,g"), 5, "y," + std::string(10'000'000, 'x') + ",g");
    return s;
  }
  if (name == "@hundred_thousand_columns") {
    std::string zeros;
    for (int j = 3; j < 100'000; ++j) zeros += ",0";
    std::string header = "y,x,g";
    for (int j = 3; j < 100'000; ++j) header += ",c" + std::to_string(j);
    std::string s = good_rows(zeros);
    s.replace(0, s.find('\n'), header);
    return s;
  }
  ADD_FAILURE() << "unknown data generator " << name;
  return "";
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::string generate_formula(const std::string& name) {
  if (name == "@formula:repeated_10000") {  // y ~ x + x + ... : 10,000 characters, the same model
    std::string f = "y ~ x";
    while (f.size() < 10'000) f += " + x";
    return f + " + (1 | g)";
  }
  if (name == "@formula:distinct_10000") {
    std::string f = "y ~ x0";
    for (int i = 1; f.size() < 10'000; ++i) f += " + x" + std::to_string(i);
    return f + " + (1 | g)";
  }
  if (name == "@formula:nested_100") return "y ~ " + repeat("(", 100) + "x" + repeat(")", 100) + " + (1 | g)";
  if (name == "@formula:nested_50000") return "y ~ " + repeat("(", 50'000) + "x" + repeat(")", 50'000) + " + (1 | g)";
  if (name == "@formula:calls_30000") return "y ~ " + repeat("I(", 30'000) + "x" + repeat(")", 30'000) + " + (1 | g)";
  if (name == "@formula:minus_100000") return "y ~ " + repeat("-", 100'000) + "x + (1 | g)";
  if (name == "@formula:sum_5000") return "y ~ I(x" + repeat("+x", 5'000) + ") + (1 | g)";
  if (name == "@formula:slash_5000") return "y ~ x + (1 | g" + repeat("/g", 5'000) + ")";
  ADD_FAILURE() << "unknown formula generator " << name;
  return "";
}

// ---- the manifest ----

struct Case {
  int line = 0;
  std::string data, formula, options, expect, check;
  int exit = -1;
};

void PrintTo(const Case& c, std::ostream* os) { *os << "cases.tsv line " << c.line; }

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x' && std::isxdigit(static_cast<unsigned char>(s[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 3]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 2, 2), nullptr, 16));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<Case> load_cases() {
  std::vector<Case> cases;
  std::ifstream in(kCorpus / "cases.tsv");
  int lineno = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> f = lmm::testing::split(line, '\t');
    Case c;
    c.line = lineno;
    if (f.size() < 5) {
      c.exit = -1;  // reported by the test
      c.data = line;
    } else {
      c.data = f[0];
      c.formula = f[1][0] == '@' ? f[1] : unescape(f[1]);
      c.options = f[2];
      c.exit = std::stoi(f[3]);
      c.expect = f[4];
      if (f.size() > 5) c.check = f[5];
    }
    cases.push_back(c);
  }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string s = "line" + std::to_string(info.param.line) + "_" + info.param.data;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// The path of the case's data (generated files are written once per process).
std::string data_path(const std::string& data) {
  if (data[0] != '@') return (kCorpus / data).string();
  static std::map<std::string, std::string> made;
  auto it = made.find(data);
  if (it != made.end()) return it->second;
  std::string file = data.substr(1);
  for (char& ch : file)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  const fs::path p = scratch() / (file + ".csv");
  std::ofstream(p, std::ios::binary) << generate_data(data);
  return made[data] = p.string();
}

std::vector<std::string> fit_args(const Case& c, const std::string& data, bool json_output) {
  std::vector<std::string> a{data_path(data), c.formula[0] == '@' ? generate_formula(c.formula) : c.formula};
  if (c.options != "-") {
    std::istringstream in(c.options);
    for (std::string o; in >> o;) a.push_back(o);
  }
  if (json_output) a.push_back("--json");
  return a;
}

double num(const json& j) { return j.is_number() ? j.get<double>() : NAN; }

class Corpus : public ::testing::TestWithParam<Case> {};

TEST_P(Corpus, GivesTheExpectedOutcome) {
  const Case& c = GetParam();
  ASSERT_GE(c.exit, 0) << "cases.tsv line " << c.line << " is malformed: " << c.data;
  SCOPED_TRACE("cases.tsv line " + std::to_string(c.line) + ": " + c.data + "  " + c.formula.substr(0, 80));
  const CliRun o = run_fit(fit_args(c, c.data, false));
  ASSERT_LT(o.code, 128) << "killed by signal " << o.code - 128 << "\n" << o.err.substr(0, 2000);
  ASSERT_NE(o.code, 3) << "internal error: " << o.err.substr(0, 2000);

  if (c.exit == 2) {
    EXPECT_EQ(o.code, 2) << o.err.substr(0, 2000);
    EXPECT_TRUE(o.out.empty()) << o.out.substr(0, 2000);
    EXPECT_EQ(o.err.rfind("lmm: ", 0), 0u) << o.err.substr(0, 2000);
    EXPECT_NE(o.err.find(c.expect), std::string::npos) << "stderr: " << o.err.substr(0, 2000);
    EXPECT_LT(o.err.size(), 2500u) << "the message is not short";
    ASSERT_FALSE(o.err.empty());
    EXPECT_EQ(o.err.back(), '\n');
    // One line, or for a formula three: the message, the formula and a caret under the fault.
    const auto lines = std::count(o.err.begin(), o.err.end(), '\n');
    EXPECT_EQ(lines, o.err.rfind("lmm: formula:", 0) == 0 ? 3 : 1) << o.err.substr(0, 2000);
    return;
  }

  ASSERT_EQ(o.code, 0) << o.err.substr(0, 2000);
  EXPECT_TRUE(o.err.empty()) << o.err.substr(0, 2000);
  EXPECT_FALSE(has_non_finite(o.out)) << o.out;
  const CliRun oj = run_fit(fit_args(c, c.data, true));
  ASSERT_EQ(oj.code, 0) << oj.err.substr(0, 2000);
  EXPECT_FALSE(has_non_finite(oj.out)) << oj.out;
  json j;
  ASSERT_NO_THROW(j = json::parse(oj.out)) << oj.out.substr(0, 2000);
  EXPECT_TRUE(std::isfinite(num(j["sigma"])));
  EXPECT_TRUE(std::isfinite(num(j["loglik"])));
  for (const auto& fe : j["fixed"]) {
    EXPECT_TRUE(std::isfinite(num(fe["estimate"]))) << fe.dump();
    EXPECT_TRUE(std::isfinite(num(fe["std_error"]))) << fe.dump();
  }
  std::string messages;
  bool found = false;
  for (const auto& m : j["messages"]) {
    messages += "\n  " + m.get<std::string>();
    found = found || m.get<std::string>().find(c.expect) != std::string::npos;
  }
  if (c.expect == "-")
    EXPECT_TRUE(j["messages"].empty()) << "unexpected messages:" << messages;
  else
    EXPECT_TRUE(found) << "no message contains '" << c.expect << "'; messages:" << messages;
  // The text output shows the same messages.
  for (const auto& m : j["messages"]) EXPECT_NE(o.out.find(m.get<std::string>()), std::string::npos) << m;

  if (c.check.empty()) return;
  // scale=C / offset=C: against the fit of the untransformed data.
  const auto eq = c.check.find('=');
  const std::string kind = c.check.substr(0, eq);
  const double C = std::stod(c.check.substr(eq + 1));
  const std::string base_data = c.data.substr(0, c.data.find_first_of("*+", c.data.find(':'))) + "*1";
  const CliRun ob = run_fit(fit_args(c, base_data, true));
  ASSERT_EQ(ob.code, 0) << ob.err;
  const json b = json::parse(ob.out);
  const double s = kind == "scale" ? C : 1;
  auto rel = [](double a, double e) { return std::abs(a - e) / std::abs(e); };
  // Tolerances: the optimizer's precision (theta ~2e-5), not exact equality.
  EXPECT_LT(rel(num(j["sigma"]) / s, num(b["sigma"])), 2e-5);
  for (std::size_t k = 0; k < b["theta"].size(); ++k) EXPECT_NEAR(num(j["theta"][k]), num(b["theta"][k]), 2e-5);
  for (std::size_t k = 0; k < b["fixed"].size(); ++k) {
    double est = num(j["fixed"][k]["estimate"]) / s;
    if (kind == "offset" && k == 0) est -= C;
    EXPECT_NEAR(est, num(b["fixed"][k]["estimate"]), 1e-6 * std::abs(num(b["fixed"][k]["estimate"])) + 1e-4 * (kind == "offset"))
        << b["fixed"][k]["term"];
    EXPECT_LT(rel(num(j["fixed"][k]["std_error"]) / s, num(b["fixed"][k]["std_error"])), 2e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(BadInput, Corpus, ::testing::ValuesIn(load_cases()), case_name);

}  // namespace
