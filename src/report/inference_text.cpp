// The text summary's inference sections: variance partition, intervals, convergence, singular fit.
#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <map>
#include <string>
#include <vector>

#include "lmm/inference.h"
#include "report/text_format.h"

namespace lmm {

namespace {

std::string pad(const std::string& s, std::size_t w, bool left) {
  if (s.size() >= w) return s;
  return left ? s + std::string(w - s.size(), ' ') : std::string(w - s.size(), ' ') + s;
}

// Display width: count UTF-8 code points, not bytes (for "R²").
std::size_t width(const std::string& s) {
  std::size_t w = 0;
  for (unsigned char c : s) w += (c & 0xC0) != 0x80;
  return w;
}

// Columns padded to their widest cell; column c is left-aligned when left(c).
template <class Left>
std::string table(const std::vector<std::vector<std::string>>& rows, Left left, const std::string& indent) {
  std::vector<std::size_t> w;
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (w.size() <= c) w.push_back(0);
      w[c] = std::max(w[c], width(r[c]));
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (c) line += "  ";
      const std::size_t extra = r[c].size() - width(r[c]);
      line += c + 1 == r.size() && left(c) ? r[c] : pad(r[c], w[c] + extra, left(c));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  return out;
}

// The fit's own estimates under the interval names (lme4's confint names), so that the Estimate
// column shows the fitted model's values (a profile is centred on the ML estimates).
std::map<std::string, double> fit_estimates(const FitResult& r) {
  std::map<std::string, double> est;
  auto base = [&](const std::string& g) {
    const auto dot = g.rfind('.');
    if (dot == std::string::npos) return g;
    const std::string b = g.substr(0, dot);
    for (const auto& ng : r.ngroups)
      if (ng.group == b) return b;  // lme4's suffix for a repeated grouping factor ("Subject.1")
    return g;
  };
  for (const auto& vc : r.random) {
    if (vc.group == "Residual") {
      est["sigma"] = vc.sd;
    } else if (vc.is_correlation()) {
      est[fmt::format("cor_{}.{}|{}", vc.term2, vc.term1, base(vc.group))] = vc.cor;
    } else {
      est[fmt::format("sd_{}|{}", vc.term1, base(vc.group))] = vc.sd;
    }
  }
  for (const auto& f : r.fixed) est[f.term] = f.estimate;
  return est;
}

// The convergence check: one verdict on the first line (the final one), then what happened, in order.
std::string convergence_text(const ConvergenceReport& c) {
  if (c.status == "not_checked") return "";
  std::string out;
  std::string line = "\nConvergence: ";
  if (c.status == "ok") {
    const bool first_failed = std::any_of(c.messages.begin(), c.messages.end(), [](const std::string& m) {
      return m.rfind("the first convergence check failed", 0) == 0;
    });
    // Below 1e-8 the figure is rounding noise (it differs between builds and between a fit from
    // rows and one from accumulated statistics), so only its bound is printed; --json has it.
    const std::string grad = c.max_grad < 1e-8 ? "< 1e-8" : fmt::format("{:.2g}", c.max_grad);
    line += fmt::format("ok{} (max|scaled gradient| {}, tolerance {}",
                        first_failed   ? " at the final optimum; the first check failed, as told below"
                        : c.refitted ? " at the final optimum, after a second optimizer"
                                     : "",
                        grad, c.tolerance);
    if (!c.hessian_eigenvalues.empty())
      line += fmt::format("; Hessian eigenvalues {:.3g} to {:.3g}", c.hessian_eigenvalues.back(),
                          c.hessian_eigenvalues.front());
    line += ")";
  } else if (c.status == "singular") {
    line += "boundary fit, so the gradient check does not apply (as in lme4)";
  } else {
    line += c.status;
  }
  out += line + "\n";
  for (const auto& m : c.messages) out += "  " + m + "\n";
  return out;
}

}  // namespace

std::string format_inference(const FitResult& r) {
  std::string out;
  const auto& v = r.variance_partition;
  if (std::isfinite(v.r2_marginal)) {
    out += "\nVariance partition (as performance::icc and r2_nakagawa):\n";
    std::vector<std::vector<std::string>> rows;
    auto row = [&rows](const char* name, double x, const char* what) {
      if (std::isfinite(x)) rows.push_back({name, fmt::format("{:.3f}", x), what});
    };
    row("ICC adjusted", v.icc_adjusted,
        "share of the random + residual variance that lies between groups (a partition of variance, not variance "
        "explained)");
    row("ICC unadjusted", v.icc_unadjusted, "the same share of the total variance, fixed-effect variance included");
    row("R² marginal", v.r2_marginal, "share of the total variance explained by the fixed effects");
    row("R² conditional", v.r2_conditional, "share explained by the fixed and random effects together");
    out += table(rows, [](std::size_t c) { return c != 1; }, "  ");
    if (!v.note.empty()) out += "  Note: " + v.note + "\n";
  }

  // Intervals: Wald always for the fixed effects; profile and bootstrap when they were computed.
  const bool have_profile = !r.confint_profile.empty();
  const bool have_boot = !r.bootstrap.intervals.empty();
  if (have_profile || have_boot) {
    std::vector<std::string> names;
    std::map<std::string, const Interval*> wald, prof, boot;
    auto add = [&](const std::vector<Interval>& ivs, std::map<std::string, const Interval*>& m) {
      for (const auto& iv : ivs) {
        if (std::find(names.begin(), names.end(), iv.parameter) == names.end()) names.push_back(iv.parameter);
        m[iv.parameter] = &iv;
      }
    };
    add(r.confint_profile, prof);
    add(r.bootstrap.intervals, boot);
    add(r.confint_wald, wald);
    auto estimates = fit_estimates(r);
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> head{"", "Estimate"};
    if (have_profile) head.insert(head.end(), {"Profile 2.5%", "97.5%"});
    if (have_boot) head.insert(head.end(), {"Bootstrap 2.5%", "97.5%"});
    head.insert(head.end(), {"Wald 2.5%", "97.5%"});
    rows.push_back(head);
    for (const auto& nm : names) {
      const Interval* any = boot.count(nm) ? boot[nm] : wald.count(nm) ? wald[nm] : prof[nm];
      std::vector<std::string> row{nm, detail::r_number(estimates.count(nm) ? estimates[nm] : any->estimate, 4, -4)};
      auto cells = [&](std::map<std::string, const Interval*>& m) {
        if (m.count(nm)) {
          row.push_back(detail::r_number(m[nm]->lower, 4, -4));
          row.push_back(detail::r_number(m[nm]->upper, 4, -4));
        } else {
          row.insert(row.end(), {"", ""});
        }
      };
      if (have_profile) cells(prof);
      if (have_boot) cells(boot);
      cells(wald);
      rows.push_back(row);
    }
    out += "\n95% confidence intervals:\n" + table(rows, [](std::size_t c) { return c == 0; }, "  ");
    if (have_profile)
      out += r.method == Method::REML
                 ? "  Profile: of the likelihood, so centred on the ML estimates: the REML fit is refitted by ML first,\n"
                   "  as lme4's confint() does.\n"
                 : "  Profile: of the likelihood, as lme4's confint().\n";
    if (have_boot)
      out += fmt::format("  Bootstrap: parametric, {} replicates (seed {}), percentile intervals{}.\n",
                         r.bootstrap.replicates, r.bootstrap.seed,
                         r.bootstrap.failed ? fmt::format("; {} refits did not converge", r.bootstrap.failed) : "");
    for (const auto& iv : r.confint_profile)
      if (!iv.note.empty()) out += "  " + iv.parameter + ": " + iv.note + "\n";
  }

  out += convergence_text(r.convergence);
  return out;
}

}  // namespace lmm
