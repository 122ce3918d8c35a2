// Estimated marginal means and pairwise contrasts against emmeans 1.8.4-1 (tests/data/emmeans,
// made by make_refs.R with lme4, lmerTest and pbkrtest), and the studentized range distribution
// against R's ptukey.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "cli_runner.h"
#include "lmm/emmeans.h"
#include "test_util.h"

namespace lmm {
namespace {

using testing::close;
using testing::error_of;
using testing::load_json;

const std::filesystem::path kDir = std::filesystem::path(LMM_TEST_DATA) / "emmeans";

std::vector<std::string> strings(const nlohmann::json& j) {
  if (j.is_string()) return {j.get<std::string>()};
  return j.get<std::vector<std::string>>();
}

EmmeansOptions options_of(const nlohmann::json& c) {
  EmmeansOptions o;
  o.specs = strings(c["specs"]);
  o.by = strings(c["by"]);
  for (const auto& [name, values] : c["at"].items())
    o.at.emplace_back(name, values.get<std::vector<double>>());
  o.pairwise = true;
  o.adjust = parse_p_adjust(c["adjust"].get<std::string>());
  o.ddf = parse_ddf_method(c["ddf"].get<std::string>());
  return o;
}

// The grid value of `var` in a reference row, as our text of it.
std::string ref_value(const nlohmann::json& row, const std::string& var) {
  const auto& v = row[var];
  return v.is_string() ? v.get<std::string>() : fmt::format("{}", v.get<double>());
}

void expect_means(const EmmeansResult& r, const nlohmann::json& ref, const std::string& what) {
  ASSERT_EQ(r.means.size(), ref.size()) << what;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const auto& m = r.means[i];
    const auto& e = ref[i];
    for (std::size_t v = 0; v < r.variables.size(); ++v)
      EXPECT_EQ(m.values[v], ref_value(e, r.variables[v])) << what << " row " << i;
    EXPECT_PRED4(close, m.emmean, e["emmean"].get<double>(), 1e-6, 1e-8) << what << " row " << i;
    EXPECT_PRED4(close, m.se, e["SE"].get<double>(), 1e-5, 0.0) << what << " row " << i;
    EXPECT_PRED4(close, m.df, e["df"].get<double>(), 1e-4, 0.0) << what << " row " << i;
    EXPECT_PRED4(close, m.lower, e["lower.CL"].get<double>(), 1e-5, 1e-6) << what << " row " << i;
    EXPECT_PRED4(close, m.upper, e["upper.CL"].get<double>(), 1e-5, 1e-6) << what << " row " << i;
  }
}

void expect_contrasts(const EmmeansResult& r, const nlohmann::json& ref, const std::string& what) {
  ASSERT_EQ(r.contrasts.size(), ref.size()) << what;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const auto& c = r.contrasts[i];
    const auto& e = ref[i];
    EXPECT_EQ(c.contrast, e["contrast"].get<std::string>()) << what << " row " << i;
    for (std::size_t v = 0; v < c.by.size(); ++v)
      EXPECT_EQ(c.by[v], ref_value(e, r.variables[r.nspecs + v])) << what << " row " << i;
    EXPECT_PRED4(close, c.estimate, e["estimate"].get<double>(), 1e-6, 1e-8) << what << " row " << i;
    EXPECT_PRED4(close, c.se, e["SE"].get<double>(), 1e-5, 0.0) << what << " row " << i;
    EXPECT_PRED4(close, c.df, e["df"].get<double>(), 1e-4, 0.0) << what << " row " << i;
    EXPECT_PRED4(close, c.t, e["t.ratio"].get<double>(), 1e-5, 1e-6) << what << " row " << i;
    EXPECT_PRED4(close, c.p, e["p.value"].get<double>(), 1e-4, 1e-6) << what << " row " << i;
  }
}

TEST(Emmeans, MatchesEmmeansForEveryReferenceCase) {
  const nlohmann::json cases = load_json(kDir / "emmeans_refs.json");
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const DataFrame data =
        read_table((std::filesystem::path(LMM_TEST_DATA) / c["data"].get<std::string>()).string());
    auto [model, result] = fit(data, c["formula"].get<std::string>());
    const EmmeansOptions o = options_of(c);
    const std::string what = fmt::format("{} specs {} by {} {} {}", c["formula"].get<std::string>(),
                                         c["specs"].dump(), c["by"].dump(), c["ddf"].get<std::string>(),
                                         c["adjust"].get<std::string>());
    const EmmeansResult r = emmeans(model, data, o);
    expect_means(r, c["emmeans"], what);
    expect_contrasts(r, c["contrasts"], what);
  }
}

TEST(Emmeans, PtukeyMatchesR) {
  const nlohmann::json grid = load_json(kDir / "ptukey_refs.json");
  ASSERT_EQ(grid.size(), 140u);
  for (const auto& g : grid) {
    const double df = g.contains("df") ? g["df"].get<double>() : std::numeric_limits<double>::infinity();
    const double q = g["q"], k = g["nmeans"], p = g["p"];
    // R's ptukey (fixed Gauss-Legendre panels) is accurate to about 1e-8 for df >= 5, but only to
    // about 2e-5 at df = 2.5: there it gives 0.0175436 for ptukey(8, 2, 2.5), where the exact
    // 2 pt(8 / sqrt(2), 2.5, lower.tail = FALSE) is 0.0175664 (ours; see the next test).
    const double abs_tol = df < 5 ? 5e-5 : 1e-7;
    EXPECT_PRED4(close, ptukey_upper(q, k, df), p, 1e-6, abs_tol) << "q " << q << " nmeans " << k << " df " << df;
  }
}

TEST(Emmeans, PtukeyWithTwoMeansIsTheTTest) {
  // The range of 2 normals over s is sqrt(2) |T|: ptukey(q, 2, df) = 2 pt(q / sqrt(2), df, upper).
  for (double df : {1.5, 4.0, 30.0}) {
    // 2 * pt(3 / sqrt(2), df, lower.tail = FALSE) from R.
    const double want = df == 1.5 ? 0.208752621816398 : df == 4.0 ? 0.101191507218295 : 0.042269450325774;
    EXPECT_NEAR(ptukey_upper(3.0, 2, df), want, 1e-10) << df;
  }
  EXPECT_NEAR(ptukey_upper(8.0, 2, 2.5), 0.0175664166, 1e-10);  // 2 * pt(8 / sqrt(2), 2.5, ...)
}

class EmmeansErrors : public ::testing::Test {
 protected:
  DataFrame data = read_table((std::filesystem::path(LMM_TEST_DATA) / "growth200.csv").string());
  Fitted f = fit(data, "y ~ time * group + (time | id)");
  std::string error(const EmmeansOptions& o) {
    return error_of([&] { emmeans(f.model, data, o); });
  }
};

TEST_F(EmmeansErrors, NameTheFieldAndTheVariable) {
  EmmeansOptions o;
  o.specs = {"grp"};
  EXPECT_EQ(error(o), "EmmeansOptions::specs: 'grp' is not a variable of the fixed effects (variables: time, group)");
  o.specs = {"time"};
  EXPECT_NE(error(o).find("EmmeansOptions::specs: 'time' is a numeric covariate"), std::string::npos);
  o.specs = {"group"};
  o.at = {{"group", {1}}};
  EXPECT_NE(error(o).find("EmmeansOptions::at: 'group' is not a numeric covariate"), std::string::npos);
  o.at = {{"time", {0, 2}}};
  o.by = {"group"};
  EXPECT_NE(error(o).find("named twice"), std::string::npos);
  o.by = {"time"};
  EXPECT_EQ(error(o), "");
}

TEST_F(EmmeansErrors, KenwardRogerNeedsReml) {
  Fitted ml = fit(data, "y ~ time * group + (time | id)", FitOptions{.method = Method::ML});
  EmmeansOptions o;
  o.specs = {"group"};
  o.ddf = DdfMethod::KenwardRoger;
  EXPECT_NE(error_of([&] { emmeans(ml.model, data, o); }).find("REML"), std::string::npos);
}

// ---- the command line ----

std::string growth() { return (std::filesystem::path(LMM_TEST_DATA) / "growth200.csv").string(); }

TEST(EmmeansCli, TextHasEmmeansColumnsAndAdjustmentLine) {
  const auto r = testing::run_cli({"emmeans", (std::filesystem::path(LMM_TEST_DATA) / "cake.csv").string(),
                                   "angle ~ recipe * factor(temp) + (1 | recipe:replicate)", "--specs",
                                   "temp", "--pairwise"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find(" temp emmean"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lower.CL upper.CL"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" temp175 - temp185 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Results are averaged over the levels of: recipe"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("P value adjustment: tukey method for comparing a family of 6 estimates"),
            std::string::npos) << r.out;
}

TEST(EmmeansCli, JsonMatchesEmmeansWithKenwardRoger) {
  const auto r = testing::run_cli({"emmeans", growth(), "y ~ time * group + (time | id)", "--specs",
                                   "group", "--by", "time", "--at", "time=0,2,4", "--pairwise",
                                   "--ddf", "kenward-roger", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const nlohmann::json cases = load_json(kDir / "emmeans_refs.json");
  const auto& ref = cases[1];  // growth200, group by time at 0, 2, 4, Kenward-Roger
  ASSERT_EQ(ref["ddf"], "kenward-roger");
  ASSERT_EQ(j["emmeans"].size(), ref["emmeans"].size());
  for (std::size_t i = 0; i < ref["emmeans"].size(); ++i) {
    EXPECT_EQ(j["emmeans"][i]["group"], ref["emmeans"][i]["group"]);
    EXPECT_EQ(j["emmeans"][i]["time"].get<double>(), ref["emmeans"][i]["time"].get<double>());
    for (const char* k : {"emmean", "SE", "df", "lower.CL", "upper.CL"})
      EXPECT_PRED4(close, j["emmeans"][i][k].get<double>(), ref["emmeans"][i][k].get<double>(), 1e-4, 0.0) << k;
  }
  ASSERT_EQ(j["contrasts"].size(), 3u);
  for (std::size_t i = 0; i < 3; ++i)
    for (const char* k : {"estimate", "SE", "df", "t.ratio", "p.value"})
      EXPECT_PRED4(close, j["contrasts"][i][k].get<double>(), ref["contrasts"][i][k].get<double>(), 1e-4, 0.0) << k;
}

TEST(EmmeansCli, BadInputIsOneLineAndExit2) {
  const std::string f = "y ~ time * group + (time | id)";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--specs", "grp"}, "--specs: 'grp' is not a variable of the fixed effects"},
      {{"--specs", "time"}, "--specs: 'time' is a numeric covariate"},
      {{"--specs", "group", "--at", "group=1"}, "--at: 'group' is not a numeric covariate"},
      {{"--specs", "group", "--at", "time=a"}, "--at time: 'a' is not a finite number"},
      {{"--specs", "group", "--at", "time"}, "is not NAME=VALUE"},
  };
  for (const auto& [extra, msg] : cases) {
    std::vector<std::string> args{"emmeans", growth(), f};
    args.insert(args.end(), extra.begin(), extra.end());
    const auto r = testing::run_cli(args);
    EXPECT_EQ(r.code, 2) << msg;
    EXPECT_NE(r.err.find(msg), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
}

}  // namespace
}  // namespace lmm
