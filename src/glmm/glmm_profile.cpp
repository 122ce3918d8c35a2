// Profile-likelihood intervals of a GLMM, as lme4's confint(glmer_fit, method = "profile")
// (lme4 1.1-31 R/profile.R): the parameters are the random effects' SDs and correlations (lme4's
// .sig01, ... on the sd/cor scale; the families have no σ) and β. For each, ζ(x) = sign(x - x̂)
// √(d(x) - d̂), d(x) the fit's Laplace (or quadrature) deviance minimised over all the other
// parameters with this one fixed at x (BOBYQA, warm-started from the previous point; PIRLS from the
// previous modes). lme4 interpolates ζ with splines through a grid of points; the interval's ends
// are solved for directly here (the LMM's profile_limit: bracketing, then TOMS 748).
#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
#include <optional>

#include "glmm/glmm_impl.h"
#include "inference/internal.h"
#include "lmm/error.h"
#include "lmm/glmm.h"
#include "lmm/inference.h"
#include "model/sdcor.h"
#include "report/text_format.h"

namespace lmm {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The parameters on the profile's scale: per term its λ-factor's lower triangle column by column
// (θ's order) as sd (diagonal) or cor (below), then β; names as the LMM's profile.
struct ProfileScale {
  std::vector<double> hat, lower, upper, step;
  std::vector<std::string> names;
  std::vector<int> q;  // per term
};

ProfileScale profile_scale(const GlmmModel& m, const GlmmResult& r) {
  ProfileScale s;
  s.hat = m.sdcor();
  s.names = m.sdcor_names();
  const ModelFrame& f = m.frame();
  for (const ReTermData& t : f.re) {
    s.q.push_back(t.q());
    for (int c = 0; c < t.q(); ++c)
      for (int rr = c; rr < t.q(); ++rr) {
        const bool sd = rr == c;
        s.lower.push_back(sd ? 0.0 : -1.0);
        s.upper.push_back(sd ? kInf : 1.0);
        s.step.push_back(sd ? std::max(0.05 * s.hat[s.lower.size() - 1], 0.01) : 0.05);
      }
  }
  const std::size_t p = r.beta.size();
  for (std::size_t k = 0; k < p; ++k) {
    s.hat.push_back(r.beta[k]);
    s.lower.push_back(-kInf);
    s.upper.push_back(kInf);
    const double v = r.vcov.size() == p * p ? r.vcov[k * p + k] : kNaN;
    s.step.push_back(std::isfinite(v) && v > 0 ? 0.5 * std::sqrt(v) : 0.1);
    s.names.push_back(r.fixed[k].term);
  }
  return s;
}

std::string join_notes(const std::string& lo, const std::string& hi) {
  return lo + (lo.empty() || hi.empty() ? "" : "; ") + hi;
}

// One parameter's interval: ζ with the others re-optimised, solved for ±z on each side.
Interval profile_one(GlmmModel& m, const ProfileScale& s, std::size_t w, int nagq, double base, double z) {
  const std::size_t k = s.hat.size(), nt = m.ntheta();
  const Eigen::VectorXd u_hat = m.u();
  auto dev = [&](const std::vector<double>& v) {
    const auto th = detail::theta_from_sdcor(std::vector<double>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(nt)), s.q, 1.0);
    if (!th) return kInf;
    return m.deviance_at(*th, Eigen::Map<const Eigen::VectorXd>(v.data() + nt, Eigen::Index(k - nt)), nagq);
  };
  std::vector<double> others, olo, ohi, ostep;
  for (std::size_t i = 0; i < k; ++i)
    if (i != w) others.push_back(s.hat[i]), olo.push_back(s.lower[i]), ohi.push_back(s.upper[i]), ostep.push_back(s.step[i]);
  std::vector<double> warm = others;
  auto zeta = [&](double x) {
    auto f = [&](const std::vector<double>& o) {
      std::vector<double> v(k);
      for (std::size_t i = 0, j = 0; i < k; ++i) v[i] = i == w ? x : o[j++];
      return dev(v);
    };
    const auto r = others.empty() ? inference::MinimizeResult{{}, f({}), 1, true, ""}
                                  : inference::minimize(f, warm, olo, ohi, ostep);
    if (!std::isfinite(r.f) || r.f >= 1e299) return kNaN;
    warm = r.x;
    return (x < s.hat[w] ? -1.0 : 1.0) * std::sqrt(std::max(0.0, r.f - base));
  };
  Interval iv;
  iv.parameter = s.names[w];
  iv.estimate = s.hat[w];
  std::string note_lo, note_hi;
  for (const int dir : {-1, 1}) {
    const double bound = dir < 0 ? s.lower[w] : s.upper[w];
    std::string& note = dir < 0 ? note_lo : note_hi;
    double& end = dir < 0 ? iv.lower : iv.upper;
    if (s.hat[w] == bound) {
      end = bound;
      note = fmt::format("{} end at the boundary {}", dir < 0 ? "lower" : "upper", bound);
      continue;
    }
    warm = others;
    m.set_u(u_hat);
    end = inference::profile_limit(zeta, s.hat[w], s.step[w], dir, z, s.lower[w], s.upper[w], note);
  }
  iv.note = join_notes(note_lo, note_hi);
  return iv;
}

}  // namespace

std::vector<Interval> glmm_profile_intervals(const GlmmFitted& fitted, double level) {
  const GlmmResult& r = fitted.result;
  if (r.nagq < 1)
    throw Error("glmm_profile_intervals: a fast fit (GlmmOptions::fast, nAGQ = 0) has no Laplace optimum to profile");
  const double z = normal_quantile_two_sided(level);
  const GlmmModel& fm = *fitted.model;
  GlmmModel m(fm.frame(), fm.y(), fm.prior_weights(), fm.family());
  const ProfileScale s = profile_scale(fm, r);
  m.set_u(fm.u());
  const double base = m.deviance_at(r.theta, Eigen::Map<const Eigen::VectorXd>(r.beta.data(), Eigen::Index(r.beta.size())),
                                    r.nagq);
  const Eigen::VectorXd u_hat = m.u();
  std::vector<Interval> out;
  for (std::size_t w = 0; w < s.hat.size(); ++w) {
    m.set_u(u_hat);
    out.push_back(profile_one(m, s, w, r.nagq, base, z));
  }
  return out;
}

std::string glmm_detail::aligned_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(rows.empty() ? 0 : rows[0].size(), 0);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (const auto& row : rows) {
    out += " ";
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c)
      out += c == 0 ? fmt::format(" {:<{}}", row[c], width[c]) : fmt::format("  {:>{}}", row[c], width[c]);
    out += "\n";
  }
  return out;
}

std::string format_glmm_intervals(const GlmmResult& r) {
  if (r.confint_profile.empty()) return "";
  const double z = normal_quantile_two_sided(0.95);
  std::vector<std::vector<std::string>> rows{{"", "Estimate", "Profile 2.5%", "97.5%", "Wald 2.5%", "97.5%"}};
  for (const Interval& iv : r.confint_profile) {
    std::vector<std::string> row{iv.parameter, detail::r_number(iv.estimate, 4, -4), detail::r_number(iv.lower, 4, -4),
                                 detail::r_number(iv.upper, 4, -4), "", ""};
    for (const FixedEffect& f : r.fixed)
      if (f.term == iv.parameter) {
        row[4] = detail::r_number(f.estimate - z * f.std_error, 4, -4);
        row[5] = detail::r_number(f.estimate + z * f.std_error, 4, -4);
      }
    rows.push_back(row);
  }
  std::string out = "\n95% confidence intervals:\n" + glmm_detail::aligned_table(rows);
  out += fmt::format("  Profile: of the {} likelihood, as lme4's confint(); Wald: estimate ± 1.96 SE.\n",
                     r.nagq == 1 ? "Laplace" : "adaptive Gauss-Hermite");
  for (const Interval& iv : r.confint_profile)
    if (!iv.note.empty()) out += "  " + iv.parameter + ": " + iv.note + "\n";
  return out;
}

}  // namespace lmm
