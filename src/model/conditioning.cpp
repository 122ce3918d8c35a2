#include "model/conditioning.h"

#include <fmt/format.h>

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <limits>

#include "formula/rformat.h"
#include "io/number_text.h"
#include "lmm/error.h"

namespace lmm::detail {

namespace {

struct Stats {
  double mean = 0, sd = 0;
  bool binary = true;  // only 0 and 1: a dummy column
};

// Two-pass mean and SD of column `j` of a row-major n x q array (stride q), or of a plain array.
Stats stats(const double* v, std::size_t n, std::size_t stride) {
  Stats s;
  if (n == 0) return s;
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = v[i * stride];
    sum += x;
    s.binary = s.binary && (x == 0 || x == 1);
  }
  s.mean = sum / static_cast<double>(n);
  double ss = 0;
  for (std::size_t i = 0; i < n; ++i) ss += (v[i * stride] - s.mean) * (v[i * stride] - s.mean);
  s.sd = std::sqrt(ss / static_cast<double>(n));
  return s;
}

// A round number near `mean` to subtract: two significant digits (1000003.5 -> 1e+06, 2010.4 -> 2000).
double round_center(double mean) {
  if (mean == 0 || !std::isfinite(mean)) return mean;
  const double k = std::pow(10.0, std::floor(std::log10(std::abs(mean))) - 1);
  return std::round(mean / k) * k;
}

bool plain_name(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  });
}

std::string centering_hint(const std::string& name, double mean) {
  if (plain_name(name))
    return fmt::format("replace {} with I({} - {}) in the formula", name, name, format_r_number(round_center(mean)));
  return fmt::format("center the variables in '{}' (subtract about {})", name, format_r_number(round_center(mean)));
}

}  // namespace

Conditioning assess_conditioning(const detail::ModelState& m) {
  Conditioning out;
  const ModelFrame& f = m.frame;
  const auto np = static_cast<Eigen::Index>(f.p());
  const std::size_t n = f.n();

  // --- the fixed effects: eigenvalues of X'X with unit diagonal (A's top-left block) ---
  if (np > 0) {
    const Mat& akk = std::get<Mat>(m.A[m.K][m.K]);
    Mat G = akk.topLeftCorner(np, np);
    Eigen::VectorXd d = G.diagonal().cwiseSqrt();
    for (Eigen::Index j = 0; j < np; ++j) d(j) = d(j) > 0 ? 1 / d(j) : 0;
    G = d.asDiagonal() * G * d.asDiagonal();
    Eigen::SelfAdjointEigenSolver<Mat> eig(G);
    const double lo = eig.eigenvalues()(0), hi = eig.eigenvalues()(np - 1);
    out.kappa_x = lo > 0 ? std::sqrt(hi / lo) : std::numeric_limits<double>::infinity();
    if (out.kappa_x > kKappaWarn) {
      // The culprits: columns far from 0 relative to their spread (centering fixes those), else
      // the columns of the near-null direction (a near-linear dependence).
      std::vector<std::string> advice;
      for (Eigen::Index j = 0; j < np; ++j) {
        const Stats s = stats(&f.X[static_cast<std::size_t>(j) * n], n, 1);
        if (s.sd > 0 && !s.binary && std::abs(s.mean) > 100 * s.sd)
          advice.push_back(fmt::format("'{}' has mean {:.3g} and SD {:.3g}: {}", f.fixed_names[j], s.mean, s.sd,
                                       centering_hint(f.fixed_names[j], s.mean)));
      }
      if (advice.empty()) {
        std::string cols;
        const Eigen::VectorXd v = eig.eigenvectors().col(0);
        for (Eigen::Index j = 0; j < np; ++j)
          if (std::abs(v(j)) > 0.2) cols += (cols.empty() ? "'" : ", '") + f.fixed_names[j] + "'";
        advice.push_back(fmt::format("these columns are nearly linearly dependent: {}; rescale or drop one", cols));
      }
      std::string adv;
      for (const auto& a : advice) adv += (adv.empty() ? "" : "; ") + a;
      const double digits = 16 - 2 * std::log10(out.kappa_x);
      if (out.kappa_x > kKappaRefuse)
        throw Error(fmt::format("the fixed-effects model matrix is too ill-conditioned to give meaningful estimates "
                                "(condition number {:.2g} after scaling its columns): {}",
                                out.kappa_x, adv));
      out.warnings.push_back(fmt::format(
          "warning: the fixed-effects model matrix is ill-conditioned (condition number {:.2g} after scaling its "
          "columns): standard errors, variance components and the likelihood may have only about {:.0f} "
          "correct significant digits; {}",
          out.kappa_x, std::max(1.0, std::floor(digits)), adv));
    }
  } else {
    out.kappa_x = std::numeric_limits<double>::quiet_NaN();
  }

  // --- random slopes far from 0 in a term with an intercept ---
  for (const ReTermData& t : f.re) {
    const int q = t.q();
    const bool intercept = std::find(t.names.begin(), t.names.end(), "(Intercept)") != t.names.end();
    // A model fitted from accumulated statistics holds no rows (t.z is empty): nothing to check here.
    if (!intercept || q < 2 || t.z.empty() || t.z.size() < n * static_cast<std::size_t>(q)) continue;
    for (int a = 0; a < q; ++a) {
      if (t.names[a] == "(Intercept)") continue;
      const Stats s = stats(t.z.data() + a, n, static_cast<std::size_t>(q));
      if (s.sd > 0 && !s.binary && std::abs(s.mean) > kSlopeOffsetWarn * s.sd)
        out.warnings.push_back(fmt::format(
            "warning: '{}' in the random-effects term for {} is far from 0 for its spread (mean {:.3g}, SD {:.3g}): "
            "the random intercept then describes {} at {} = 0, far outside the data, and the variance components "
            "lose precision; {}",
            t.names[a], t.group, s.mean, s.sd, t.group, t.names[a], centering_hint(t.names[a], s.mean)));
    }
  }
  return out;
}

std::vector<std::string> data_warnings(const DataFrame& data, const Formula& formula) {
  std::vector<std::string> out, seen;
  auto check = [&](const std::vector<Term>& terms) {
    for (const Term& t : terms)
      for (const Expr& e : t.factors) {
        if (e.kind != Expr::Kind::Variable) continue;  // factor(x) is categorical on purpose
        if (std::find(seen.begin(), seen.end(), e.name) != seen.end()) continue;
        seen.push_back(e.name);
        const Column* c = data.find(e.name);
        if (!c) continue;
        const std::string hint = foreign_number_hint(*c);
        if (!hint.empty())
          out.push_back(fmt::format("warning: '{}' is used as a categorical predictor with {} levels{}", e.name,
                                    c->levels.size(), hint));
      }
  };
  check(formula.fixed);
  for (const RandomTerm& r : formula.random) check(r.terms);
  for (std::string& h : data_hints(data, formula)) out.push_back(std::move(h));
  return out;
}

}  // namespace lmm::detail
