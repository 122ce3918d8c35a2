// `lmm power`'s table: the power curve as text.
#include <cmath>
#include <fmt/format.h>

#include "lmm/power.h"

namespace lmm {

namespace {

std::string percent(double share) { return std::isnan(share) ? "NA" : fmt::format("{:.1f}%", 100 * share); }

std::string header(const PowerResult& r) {
  std::string what = r.test;
  if (!std::isnan(r.effect)) what += fmt::format(" = {:g}", r.effect);
  std::string out = fmt::format("Power by simulation: {}, {}, alpha = {:g}\n", what, r.test_method, r.alpha);
  out += fmt::format("Model: {}, fitted by REML to each simulated study\n", r.formula);
  out += fmt::format("{} studies per sample size, seed {}, {} thread{}; interval: Wilson {:g}%\n", r.nsim, r.seed,
                     r.threads, r.threads == 1 ? "" : "s", 100 * r.level);
  for (const std::string& n : r.notes) out += "Note: " + n + "\n";
  return out;
}

}  // namespace

std::string format_power(const PowerResult& r) {
  std::string out = header(r) + "\n";
  const std::string interval = fmt::format("{:g}% interval", 100 * r.level);
  out += fmt::format("{:>8}  {:>6}  {:>6}  {:<16}  {:>8}  {:>13}  {:>6}  {:>8}\n", "persons", "power", "MC SE", interval,
                     "singular", "not converged", "failed", "seconds");
  for (const PowerPoint& p : r.curve) {
    // Every fit failed: no power to show.
    const std::string numbers = std::isnan(p.power) ? fmt::format("{:>6}  {:>6}  {:<16}", "NA", "NA", "NA")
                                                    : fmt::format("{:>6.3f}  {:>6.4f}  [{:.3f}, {:.3f}]  ", p.power,
                                                                  p.mc_se, p.lower, p.upper);
    out += fmt::format("{:>8}  {}  {:>8}  {:>13}  {:>6}  {:>8.2f}\n", p.persons, numbers, percent(p.singular_share),
                       percent(p.nonconverged_share), p.failed, p.seconds);
  }
  return out;
}

}  // namespace lmm
