// Prior weights in a GLMM (glmer's weights =), against known identities: a binomial proportion
// with weights = trials is the cbind(successes, failures) fit, and a weight of 2 on every row is
// every row twice (Poisson and Bernoulli). Bad weights: one named error.
#include <gtest/gtest.h>

#include <string>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/table_io.h"

namespace {

const std::string kDir = std::string(LMM_TEST_DATA) + "/glmm/data/";

lmm::GlmmResult fit(const lmm::DataFrame& d, const std::string& formula, lmm::GlmmFamily family,
                    const std::string& weights = "") {
  lmm::GlmmOptions o;
  o.family = family;
  o.frame.weights = weights;
  return lmm::fit_glmm(d, formula, o).result;
}

void expect_same_fit(const lmm::GlmmResult& a, const lmm::GlmmResult& b) {
  EXPECT_NEAR(a.loglik, b.loglik, 1e-6 * std::abs(b.loglik));
  ASSERT_EQ(a.beta.size(), b.beta.size());
  for (std::size_t j = 0; j < a.beta.size(); ++j) {
    EXPECT_NEAR(a.beta[j], b.beta[j], 1e-5 * (1 + std::abs(b.beta[j])));
    EXPECT_NEAR(a.fixed[j].std_error, b.fixed[j].std_error, 1e-3 * b.fixed[j].std_error);
  }
  for (std::size_t j = 0; j < a.theta.size(); ++j) EXPECT_NEAR(a.theta[j], b.theta[j], 1e-5);
}

// Every row twice, and the original with a column w = 2.
std::pair<lmm::DataFrame, lmm::DataFrame> doubled(const std::string& file) {
  lmm::DataFrame d = lmm::read_table(kDir + file), twice = d;
  for (lmm::Column& c : twice.columns) {
    if (c.is_numeric()) c.numbers.insert(c.numbers.end(), c.numbers.begin(), c.numbers.end());
    else c.codes.insert(c.codes.end(), c.codes.begin(), c.codes.end());
    c.text_codes.clear();
    c.text_levels.clear();
  }
  twice.nrows *= 2;
  d.columns.push_back(lmm::numeric_column("w", std::vector<double>(d.nrows, 2.0)));
  return {d, twice};
}

TEST(GlmmWeights, BinomialProportionWithTrialsIsCbind) {
  lmm::DataFrame d = lmm::read_table(kDir + "cbpp.csv");
  std::vector<double> prop;
  for (std::size_t i = 0; i < d.nrows; ++i) prop.push_back(d.at("incidence").numbers[i] / d.at("size").numbers[i]);
  d.columns.push_back(lmm::numeric_column("prop", prop));
  const auto cb = fit(d, "cbind(incidence, failures) ~ period + (1 | herd)", lmm::GlmmFamily::Binomial);
  const auto w = fit(d, "prop ~ period + (1 | herd)", lmm::GlmmFamily::Binomial, "size");
  expect_same_fit(w, cb);
  EXPECT_EQ(w.nobs, 56u);
}

TEST(GlmmWeights, WeightTwoIsEveryRowTwice) {
  {
    const auto [d, twice] = doubled("exposure_counts.csv");
    const std::string f = "count ~ x + offset(log_exposure) + (1 | site)";
    expect_same_fit(fit(d, f, lmm::GlmmFamily::Poisson, "w"), fit(twice, f, lmm::GlmmFamily::Poisson));
  }
  const auto [d, twice] = doubled("binary_growth500.csv");
  const std::string f = "y ~ time + (1 | id)";
  expect_same_fit(fit(d, f, lmm::GlmmFamily::Binomial, "w"), fit(twice, f, lmm::GlmmFamily::Binomial));
}

TEST(GlmmWeights, BadWeightsAreNamed) {
  lmm::DataFrame d = lmm::read_table(kDir + "cbpp.csv");
  try {
    fit(d, "incidence ~ period + (1 | herd)", lmm::GlmmFamily::Binomial, "size");
    FAIL() << "a count response with trials as weights is not a proportion";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the proportion of successes, from 0 to 1"), std::string::npos) << e.what();
  }
  d.columns.push_back(lmm::numeric_column("third", std::vector<double>(d.nrows, 1.0 / 3)));
  try {
    fit(d, "third ~ period + (1 | herd)", lmm::GlmmFamily::Binomial, "size");  // 14/3 successes
    FAIL() << "a fractional number of successes";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("must be whole numbers"), std::string::npos) << e.what();
  }
  EXPECT_THROW(fit(d, "cbind(incidence, failures) ~ period + (1 | herd)", lmm::GlmmFamily::Binomial, "size"),
               lmm::Error);
}

}  // namespace
