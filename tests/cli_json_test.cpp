// `lmm fit --json` is written as a stream (cli/json_writer.h). Two kinds of check:
// - the writer against nlohmann::json's dump(), byte for byte, on random documents: the numbers'
//   digits, the string escapes (control bytes, UTF-8 passed through, invalid UTF-8 replaced) and the
//   layout, indented and on one line;
// - for every lme4 reference case, the CLI's output parsed with nlohmann: every object's keys in
//   byte order (as lmm has always printed them), every number the very double the library computed
//   (so no digit is lost), and the core numbers and the random effects against lme4's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "cli_runner.h"
#include "json_writer.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/inference.h"
#include "lmm/parallel.h"
#include "test_util.h"

namespace {

using lmm::cli::JsonWriter;
using ojson = nlohmann::ordered_json;
using json = nlohmann::json;

// ---- the writer against nlohmann ------------------------------------------------------------

std::string random_string(std::mt19937_64& rng) {
  // Mostly ASCII, with quotes, backslashes, control bytes, DEL, well-formed UTF-8 (2, 3 and 4 bytes)
  // and bytes that break UTF-8 (lone continuations, overlongs, surrogates, truncated sequences).
  static const std::vector<std::string> pieces = {
      "a", "Z", "0", " ", "\"", "\\", "/", "<", "\x01", "\x08", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f",
      "\x7f", "\xc3\xbc", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", "\xef\xbf\xbd", "\x80", "\xc3", "\xe6\x97",
      "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8", "\xff", "\xc2\x80", "\xf0\x9f"};
  std::uniform_int_distribution<std::size_t> len(0, 8), pick(0, pieces.size() - 1), ascii(0, 5);
  std::string s;
  for (std::size_t n = len(rng); n > 0; --n) s += ascii(rng) == 0 ? pieces[pick(rng)] : pieces[pick(rng) % 4];
  return s;
}

double random_double(std::mt19937_64& rng) {
  static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.1, 1e-5, 1e-4, 1e15, 1e16, 1e17, 123456789.0,
                                   5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.30000000000000004,
                                   std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
                                   -std::numeric_limits<double>::infinity()};
  std::uniform_int_distribution<int> kind(0, 3);
  switch (kind(rng)) {
    case 0: return special[rng() % std::size(special)];
    case 1: {  // any finite bit pattern
      double d;
      do {
        const std::uint64_t bits = rng();
        std::memcpy(&d, &bits, sizeof d);
      } while (!std::isfinite(d));
      return d;
    }
    case 2: return std::uniform_real_distribution<double>(-1e3, 1e3)(rng);
    default: return std::ldexp(std::uniform_real_distribution<double>(0.5, 1)(rng), static_cast<int>(rng() % 120) - 60);
  }
}

// A random document as a nlohmann value, and the same written through the writer.
json random_value(std::mt19937_64& rng, JsonWriter& w, int depth) {
  const int kind = static_cast<int>(rng() % (depth > 3 ? 6 : 8));
  switch (kind) {
    case 0: w.null(); return nullptr;
    case 1: { const bool b = rng() % 2; w.value(b); return b; }
    case 2: { const auto i = static_cast<std::int64_t>(rng()) >> (rng() % 63); w.value(i); return i; }
    case 3: { const std::uint64_t u = rng(); w.value(u); return u; }
    case 4: case 5: {
      if (kind == 5) { const std::string s = random_string(rng); w.value(s); return s; }
      const double d = random_double(rng);
      w.value(d);
      return d;
    }
    case 6: {
      json a = json::array();
      w.begin_array();
      for (int n = static_cast<int>(rng() % 4); n > 0; --n) a.push_back(random_value(rng, w, depth + 1));
      w.end_array();
      return a;
    }
    default: {  // an object with distinct keys, written in nlohmann's (sorted) order
      std::map<std::string, int> keys;
      for (int n = static_cast<int>(rng() % 4); n > 0; --n) keys[random_string(rng)] = 0;
      json o = json::object();
      w.begin_object();
      for (const auto& [k, unused] : keys) {
        w.key(k);
        o[k] = random_value(rng, w, depth + 1);
      }
      w.end_object();
      return o;
    }
  }
}

TEST(JsonWriter, WritesWhatNlohmannDumps) {
  std::mt19937_64 rng(20261129);
  for (int indent : {2, -1}) {
    for (int doc = 0; doc < 3000; ++doc) {
      std::ostringstream out;
      json expected;
      {
        JsonWriter w(out, indent);
        expected = random_value(rng, w, 0);
      }
      ASSERT_EQ(out.str(), expected.dump(indent, ' ', false, json::error_handler_t::replace)) << "document " << doc;
    }
  }
}

TEST(JsonWriter, NumbersAsNlohmann) {
  JsonWriter w(-1);
  w.begin_array().value(1.0).value(-0.0).value(1e-5).value(1e16).value(0.1).value(std::nan("")).end_array();
  EXPECT_EQ(w.str(), "[1.0,-0.0,1e-05,1e+16,0.1,null]");
}

TEST(JsonWriter, MapOrderSortsByteWiseAndKeepsTheLastOfARepeatedKey) {
  // "Z" < "a" < "b" < "\xc3..." in byte order; the second "a" (index 3) replaces the first.
  const std::vector<std::string> keys{"b", "a", "\xc3\xbc", "a", "Z"};
  EXPECT_EQ(lmm::cli::map_order(keys), (std::vector<std::size_t>{4, 3, 0, 2}));
}

TEST(JsonWriter, MisuseIsALogicError) {
  JsonWriter w(-1);
  w.begin_object();
  EXPECT_THROW(w.value(1.0), std::logic_error);  // a value without a key
  EXPECT_THROW(w.end_array(), std::logic_error);
}

// ---- lmm fit --json on the reference cases --------------------------------------------------

const std::string kData = LMM_TEST_DATA;

// Every object in the document has its keys in strictly increasing byte order.
void expect_sorted_keys(const ojson& j, const std::string& where) {
  if (j.is_object()) {
    std::string prev;
    bool first = true;
    for (const auto& [k, v] : j.items()) {
      EXPECT_TRUE(first || prev < k) << where << ": key \"" << k << "\" after \"" << prev << "\"";
      first = false;
      prev = k;
      expect_sorted_keys(v, where + "." + k);
    }
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) expect_sorted_keys(j[i], where + "[" + std::to_string(i) + "]");
  }
}

// The printed number is the double itself (null for a non-finite one).
void expect_same(const ojson& v, double x, const std::string& what) {
  if (!std::isfinite(x)) {
    EXPECT_TRUE(v.is_null()) << what << ": " << v.dump();
    return;
  }
  ASSERT_TRUE(v.is_number()) << what << ": " << v.dump();
  EXPECT_EQ(v.get<double>(), x) << what;
}

void expect_same_intervals(const ojson& a, const std::vector<lmm::Interval>& ivs, const std::string& what) {
  ASSERT_EQ(a.size(), ivs.size()) << what;
  for (std::size_t i = 0; i < ivs.size(); ++i) {
    EXPECT_EQ(a[i]["parameter"], ivs[i].parameter);
    expect_same(a[i]["estimate"], ivs[i].estimate, what + " estimate");
    expect_same(a[i]["lower"], ivs[i].lower, what + " lower");
    expect_same(a[i]["upper"], ivs[i].upper, what + " upper");
  }
}

// The CLI's JSON holds exactly the library's result.
void expect_same_result(const ojson& j, const lmm::FitResult& r) {
  EXPECT_EQ(j["formula"], r.formula);
  EXPECT_EQ(j["nobs"], r.nobs);
  ASSERT_EQ(j["fixed"].size(), r.fixed.size());
  for (std::size_t i = 0; i < r.fixed.size(); ++i) {
    const auto& f = r.fixed[i];
    EXPECT_EQ(j["fixed"][i]["term"], f.term);
    expect_same(j["fixed"][i]["estimate"], f.estimate, f.term);
    expect_same(j["fixed"][i]["std_error"], f.std_error, f.term);
    expect_same(j["fixed"][i]["t"], f.t, f.term);
    expect_same(j["fixed"][i]["df"], f.df, f.term);
    expect_same(j["fixed"][i]["p"], f.p, f.term);
  }
  ASSERT_EQ(j["random"].size(), r.random.size());
  for (std::size_t i = 0; i < r.random.size(); ++i) {
    const auto& vc = r.random[i];
    if (vc.is_correlation())
      expect_same(j["random"][i]["cor"], vc.cor, vc.group);
    else
      expect_same(j["random"][i]["sd"], vc.sd, vc.group);
  }
  expect_same(j["loglik"], r.loglik, "loglik");
  expect_same(j["aic"], r.aic, "aic");
  expect_same(j["bic"], r.bic, "bic");
  expect_same(j["sigma"], r.sigma, "sigma");
  expect_same(j["condition_number"], r.condition_number, "condition_number");
  expect_same(j["df_residual"], r.df_residual, "df_residual");
  expect_same(j[r.method == lmm::Method::REML ? "reml_criterion" : "deviance"], r.objective, "objective");
  ASSERT_EQ(j["theta"].size(), r.theta.size());
  for (std::size_t i = 0; i < r.theta.size(); ++i) expect_same(j["theta"][i], r.theta[i], "theta");
  for (std::size_t i = 0; i < 5; ++i) expect_same(j["scaled_residuals"][i], r.scaled_residuals[i], "scaled_residuals");
  ASSERT_EQ(j["anova_type3"].size(), r.anova_type3.size());
  for (std::size_t i = 0; i < r.anova_type3.size(); ++i) {
    EXPECT_EQ(j["anova_type3"][i]["num_df"], r.anova_type3[i].num_df);
    expect_same(j["anova_type3"][i]["F"], r.anova_type3[i].F, r.anova_type3[i].term);
    expect_same(j["anova_type3"][i]["den_df"], r.anova_type3[i].den_df, r.anova_type3[i].term);
  }
  ASSERT_EQ(j["ranef"].size(), r.ranef.size());
  for (std::size_t i = 0; i < r.ranef.size(); ++i) {
    const auto& re = r.ranef[i];
    EXPECT_EQ(j["ranef"][i]["level"], re.level);
    for (std::size_t a = 0; a < re.terms.size(); ++a) {
      expect_same(j["ranef"][i][re.terms[a]], re.mode[a], "ranef " + re.level);
      expect_same(j["ranef"][i]["condsd_" + re.terms[a]], re.condsd[a], "condsd " + re.level);
    }
  }
  ASSERT_EQ(j["coef"].size(), r.coef.size());
  for (std::size_t i = 0; i < r.coef.size(); ++i)
    for (std::size_t a = 0; a < r.coef[i].terms.size(); ++a)
      expect_same(j["coef"][i][r.coef[i].terms[a]], r.coef[i].values[a], "coef " + r.coef[i].level);
  expect_same(j["icc_adjusted"], r.variance_partition.icc_adjusted, "icc_adjusted");
  expect_same(j["r2_conditional"], r.variance_partition.r2_conditional, "r2_conditional");
  expect_same_intervals(j["confint_wald"], r.confint_wald, "confint_wald");
  if (!r.confint_profile.empty()) expect_same_intervals(j["confint_profile"], r.confint_profile, "confint_profile");
  for (std::size_t i = 0; i < r.convergence.gradient.size(); ++i)
    expect_same(j["convergence"]["gradient"][i], r.convergence.gradient[i], "gradient");
}

// The core numbers and the random effects against lme4's, with the reference tests' tolerances.
void expect_lme4(const ojson& j, const json& ref) {
  using lmm::testing::close;
  EXPECT_NEAR(j["loglik"].get<double>(), ref["loglik"].get<double>(), 1e-3);
  const double sigma = ref["sigma"].get<double>();
  EXPECT_TRUE(close(j["sigma"].get<double>(), sigma, 2e-3));
  ASSERT_EQ(j["fixed"].size(), ref["fixed"].size());
  for (std::size_t i = 0; i < ref["fixed"].size(); ++i) {
    EXPECT_EQ(j["fixed"][i]["term"].get<std::string>(), ref["fixed"][i]["term"].get<std::string>());
    EXPECT_TRUE(close(j["fixed"][i]["estimate"].get<double>(), ref["fixed"][i]["estimate"].get<double>(), 1e-4, 1e-6 * sigma))
        << ref["fixed"][i].dump();
  }
  // ranef: lme4's rows by (group, level) with ':'-parts sorted, with ranef_test's tolerances.
  std::map<std::pair<std::string, std::string>, const ojson*> ours;
  for (const auto& e : j["ranef"])
    ours[{lmm::testing::sorted_parts(e["group"]), lmm::testing::sorted_parts(e["level"])}] = &e;
  ASSERT_EQ(ours.size(), ref["ranef"].size());
  for (const auto& e : ref["ranef"]) {
    const auto it = ours.find({lmm::testing::sorted_parts(e["group"]), lmm::testing::sorted_parts(e["level"])});
    ASSERT_NE(it, ours.end()) << e.dump();
    ASSERT_EQ(it->second->size(), e.size()) << e.dump();
    for (const auto& [k, v] : e.items()) {
      if (!v.is_number()) continue;
      const double a = (*it->second)[k].get<double>(), b = v.get<double>();
      EXPECT_NEAR(a, b, std::max(5e-3 * std::max(std::abs(a), std::abs(b)), 1e-3 * sigma)) << e.dump() << " " << k;
    }
  }
}

class FitJson : public ::testing::TestWithParam<std::string> {};

TEST_P(FitJson, KeysInOrderAndNumbersInFull) {
  const json ref = lmm::testing::load_reference(GetParam());
  std::vector<std::string> args{"fit", kData + "/" + ref["data"].get<std::string>(), ref["formula"].get<std::string>(),
                                "--json", "--threads", "1"};
  if (ref["method"] == "ML") args.push_back("--ml");
  const bool profile = ref.contains("confint_profile");
  if (profile) args.push_back("--profile");
  const lmm::testing::CliRun run = lmm::testing::run_cli(args);
  ASSERT_EQ(run.code, 0) << run.err;
  ASSERT_EQ(run.out.back(), '\n');
  const ojson j = ojson::parse(run.out);
  expect_sorted_keys(j, "fit");
  for (const char* k : {"aic", "anova_type3", "coef", "confint_wald", "convergence", "fixed", "ngroups", "ranef",
                        "random", "theta", "variance_partition"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j.contains("confint_profile"), profile);

  lmm::set_num_threads(1);
  auto [model, r] = lmm::testing::fit_reference(ref);
  if (profile) r.confint_profile = lmm::profile_intervals(model);
  expect_same_result(j, r);
  expect_lme4(j, ref);
}

// Every fit case in tests/data/reference (the files with a formula; the others are comparisons).
std::vector<std::string> fit_cases() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(LMM_TEST_DATA) / "reference"))
    if (e.path().extension() == ".json" && lmm::testing::load_json(e.path()).contains("formula"))
      names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Lme4, FitJson, ::testing::ValuesIn(fit_cases()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

}  // namespace
