// What the HTML report draws for a GLMM (binomial or Poisson), computed by the engine
// (src/glmm/glmm_report.cpp). The page only lays these values out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/glmm.h"
#include "lmm/report_data.h"

namespace lmm::report {

/// arm::binned.resids(x, y, nclass): the rows cut at midpoints between the sorted x at
/// floor(n·k/nclass) (a tie moves the cut below the tied value), and per bin the mean x and y, the
/// bin's x range, its size and 2·sd(y)/√n. `nclass` 0 chooses as arm::binnedplot: ⌊√n⌋ for
/// n ≥ 100, 10 for 10 < n < 100, ⌊n/2⌋ otherwise.
struct BinnedResiduals {
  std::vector<double> x_mean, y_mean, x_lo, x_hi, two_se;
  std::vector<std::size_t> n;
};
BinnedResiduals binned_residuals(const std::vector<double>& x, const std::vector<double>& y, std::size_t nclass = 0);

/// The GLMM report's plots.
struct GlmmPlotData {
  Design design;  ///< as the LMM report decides it (the longitudinal x, if any)
  std::string scale;  ///< "probability" (binomial) or "expected count" (Poisson)
  /// Fitted means over the design's x (empty when the design has none): per kept person (at most
  /// max_persons, in a seeded random order) the conditional means μ = g⁻¹(Xβ + Zb + offset) of its
  /// rows ordered by x; per stratum the population curve, the mean over the stratum's rows at each
  /// distinct x of g⁻¹(Xβ + offset) (b = 0), and the observed mean response there (a proportion of
  /// trials for cbind()).
  Trajectories curves;  ///< y holds the observed response, fitted μ, population g⁻¹(Xβ + offset)
  struct Observed {
    std::string stratum;
    std::vector<double> x, mean;
    std::vector<std::size_t> n;  ///< rows (binomial: Bernoulli rows; cbind(): trials)
  };
  std::vector<Observed> observed;
  /// Binomial: response residuals y - μ binned by μ (binned_residuals). Empty for Poisson.
  BinnedResiduals binned;
  /// Poisson: Pearson residuals (y - μ)/√μ against μ (rows thinned beyond max_points). Empty for binomial.
  std::vector<double> pearson_fitted, pearson_residual;
  std::vector<RandomEffect> random_effects;  ///< conditional modes with conditional SDs
  std::vector<Note> notes;
};

GlmmPlotData glmm_plot_data(const GlmmFitted& fitted, const DataFrame& data, const PlotOptions& options = {});

}  // namespace lmm::report
