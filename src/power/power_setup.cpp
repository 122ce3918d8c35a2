// What the power simulation tests and the growth design's problems: options checked, the test
// resolved against the model frame, the null model of a random slope's LRT, θ from λ.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <limits>
#include <set>

#include "lmm/error.h"
#include "lmm/formula.h"
#include "power/power_internal.h"

namespace lmm {

std::string check_power_options(const PowerOptions& o) {
  if (o.persons.empty()) return "PowerOptions::persons needs at least one sample size";
  for (std::size_t n : o.persons)
    if (n < 2 || n > 10'000'000)
      return fmt::format("PowerOptions::persons must be between 2 and 10000000 (got {})", n);
  if (o.nsim < 1 || o.nsim > 10'000'000)
    return fmt::format("PowerOptions::nsim must be between 1 and 10000000 (got {})", o.nsim);
  if (!(o.alpha > 0 && o.alpha < 1))
    return fmt::format("PowerOptions::alpha must be between 0 and 1 (got {})", o.alpha);
  if (!(o.level > 0 && o.level < 1))
    return fmt::format("PowerOptions::level must be between 0 and 1 (got {})", o.level);
  if (o.threads < 0) return fmt::format("PowerOptions::threads must be >= 0 (got {})", o.threads);
  if (std::isinf(o.effect)) return "PowerOptions::effect must be a finite number";
  return "";
}

}  // namespace lmm

namespace lmm::power_detail {

namespace {

std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ') out += c;
  return out;
}

// "group:time" and "time:group" name the same term.
std::multiset<std::string> parts_of(const std::string& label) {
  std::multiset<std::string> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= label.size(); ++i)
    if (i == label.size() || label[i] == ':') {
      parts.insert(label.substr(start, i - start));
      start = i + 1;
    }
  return parts;
}

// "(time | id)": the random slope of `time` in the term grouped by `id`.
TestSpec resolve_random(const ModelFrame& frame, const std::string& text) {
  const std::string s = squeeze(text);
  const auto bar = s.find('|');
  if (bar == std::string::npos || s.back() != ')')
    throw Error("PowerOptions::test '" + text + "' is not a random slope written as (slope | group)");
  const std::string slope = s.substr(1, bar - 1), group = s.substr(bar + 1, s.size() - bar - 2);
  for (std::size_t j = 0; j < frame.re.size(); ++j) {
    if (squeeze(frame.re[j].group) != group) continue;
    const auto& names = frame.re[j].names;
    const auto it = std::find_if(names.begin(), names.end(), [&](const std::string& n) { return squeeze(n) == slope; });
    if (it == names.end()) continue;
    if (names.size() < 2)
      throw Error("PowerOptions::test '" + text + "': the term has no other effect; test a slope of a term with an intercept or other slopes");
    TestSpec t;
    t.kind = TestSpec::Kind::RandomSlope;
    t.label = "(" + *it + " | " + frame.re[j].group + ")";
    t.re_term = j;
    t.re_column = static_cast<std::size_t>(it - names.begin());
    return t;
  }
  throw Error("PowerOptions::test '" + text + "' is not a random slope of the model (" + frame.formula.deparse() + ")");
}

// Every fixed-effect term and column, for the message about an unknown test.
std::string known_tests(const ModelFrame& frame) {
  std::vector<std::string> known;
  for (const Term& t : frame.formula.fixed) known.push_back(t.label());
  for (const std::string& n : frame.fixed_names)
    if (n != "(Intercept)" && std::find(known.begin(), known.end(), n) == known.end()) known.push_back(n);
  return fmt::format("{}", fmt::join(known, ", "));
}

}  // namespace

TestSpec resolve_test(const ModelFrame& frame, const std::string& test, const std::string& fallback) {
  const std::string text = test.empty() ? fallback : test;
  if (text.empty()) throw Error("PowerOptions::test is needed: the term or coefficient to test");
  if (squeeze(text).front() == '(') return resolve_random(frame, text);
  TestSpec t;
  for (std::size_t c = 0; c < frame.p(); ++c)
    if (squeeze(frame.fixed_names[c]) == squeeze(text)) {
      t.column = c;
      t.label = frame.fixed_names[c];
      return t;
    }
  for (std::size_t k = 0; k < frame.formula.fixed.size(); ++k) {
    const std::string label = frame.formula.fixed[k].label();
    if (parts_of(squeeze(label)) != parts_of(squeeze(text))) continue;
    std::vector<std::size_t> cols;
    for (std::size_t c = 0; c < frame.columns.size(); ++c)
      if (frame.columns[c].term == static_cast<int>(k)) cols.push_back(c);
    if (cols.size() == 1) {
      t.column = cols[0];
      t.label = frame.fixed_names[cols[0]];
      return t;
    }
    const TermContrasts tc = type3_contrasts(frame);
    for (std::size_t i = 0; i < tc.terms.size(); ++i)
      if (tc.terms[i] == label) {
        t.kind = TestSpec::Kind::Term;
        t.label = label;
        t.L = tc.L[i];
        return t;
      }
    throw Error("PowerOptions::test '" + text + "': no type III hypothesis for the term" +
                (tc.unavailable.empty() ? "" : " (" + tc.unavailable + ")"));
  }
  throw Error("PowerOptions::test '" + text + "' is not a term or coefficient of the model; the model has " + known_tests(frame));
}

ModelFrame drop_random_column(const ModelFrame& frame, std::size_t term, std::size_t column) {
  ModelFrame f = frame;
  ReTermData& t = f.re[term];
  const auto q = static_cast<std::size_t>(t.q());
  std::vector<double> z;
  z.reserve(t.refs.size() * (q - 1));
  for (std::size_t i = 0; i < t.refs.size(); ++i)
    for (std::size_t a = 0; a < q; ++a)
      if (a != column) z.push_back(t.z[i * q + a]);
  t.z = std::move(z);
  t.names.erase(t.names.begin() + static_cast<std::ptrdiff_t>(column));
  return f;
}

std::vector<double> theta_of(const std::vector<std::vector<double>>& lambda,
                             const std::vector<ReTermData>& re, double floor) {
  std::vector<double> theta;
  for (std::size_t j = 0; j < re.size(); ++j) {
    const auto q = static_cast<std::size_t>(re[j].q());
    for (std::size_t c = 0; c < q; ++c)
      for (std::size_t r = c; r < q; ++r) {
        const double v = lambda[j][c * q + r];
        theta.push_back(r == c ? std::max(std::abs(v), floor) : v);
      }
  }
  return theta;
}

namespace {

// λ of a term without effect `drop`: the lower Cholesky factor of λλ' without that row and column
// (a zero pivot stays zero).
std::vector<double> reduced_lambda(const std::vector<double>& lam, std::size_t q, std::size_t drop) {
  std::vector<std::size_t> keep;
  for (std::size_t a = 0; a < q; ++a)
    if (a != drop) keep.push_back(a);
  const std::size_t m = keep.size();
  std::vector<double> S(m * m, 0.0), L(m * m, 0.0);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < m; ++j)
      for (std::size_t k = 0; k < q; ++k) S[j * m + i] += lam[k * q + keep[i]] * lam[k * q + keep[j]];
  for (std::size_t j = 0; j < m; ++j) {
    double d = S[j * m + j];
    for (std::size_t k = 0; k < j; ++k) d -= L[k * m + j] * L[k * m + j];
    L[j * m + j] = d > 0 ? std::sqrt(d) : 0.0;
    for (std::size_t i = j + 1; i < m; ++i) {
      double v = S[j * m + i];
      for (std::size_t k = 0; k < j; ++k) v -= L[k * m + i] * L[k * m + j];
      L[j * m + i] = L[j * m + j] > 0 ? v / L[j * m + j] : 0.0;
    }
  }
  return L;
}

}  // namespace

void complete_problem(SizeProblem& pb, const std::string& test, const std::string& fallback) {
  // A variance of 0 is started at 0.05 (relative to σ): at exactly 0 the gradient in that
  // direction vanishes and the fit could not leave the boundary.
  constexpr double kStartFloor = 0.05;
  pb.test = resolve_test(pb.frame, test, fallback);
  pb.design = SimulationDesign{pb.frame.n(), pb.frame.X, pb.frame.re, pb.frame.offset, pb.frame.weights, {}};
  pb.theta_start = theta_of(pb.truth.lambda, pb.frame.re, kStartFloor);
  pb.effect = pb.test.kind == TestSpec::Kind::Coefficient ? pb.truth.beta[pb.test.column]
                                                           : std::numeric_limits<double>::quiet_NaN();
  if (pb.test.kind != TestSpec::Kind::RandomSlope) return;
  const std::size_t j = pb.test.re_term;
  pb.null_frame = drop_random_column(pb.frame, j, pb.test.re_column);
  auto lambda = pb.truth.lambda;
  lambda[j] = reduced_lambda(lambda[j], static_cast<std::size_t>(pb.frame.re[j].q()), pb.test.re_column);
  pb.null_theta_start = theta_of(lambda, pb.null_frame.re, kStartFloor);
}

}  // namespace lmm::power_detail
