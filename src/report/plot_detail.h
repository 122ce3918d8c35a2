// Helpers that the LMM report's plot data (plot_data.cpp) shares with the GLMM report's
// (src/glmm/glmm_report.cpp). Not a public header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/report_data.h"

namespace lmm::report::detail {

/// What the plots of one fit share: per frame row, the predictions, the design's x and the stratum;
/// per level of the first grouping factor, its rank in the seeded order.
struct Rows {
  std::vector<double> population, fitted, x;
  std::vector<std::string> stratum;
  std::vector<std::size_t> rank;  // per level of the first term
};

/// The persons in display order and the rows (response `y`) of the kept ones, by person then x.
void fill_trajectories(const ModelFrame& f, const std::vector<double>& y, const Rows& r, const PlotOptions& options,
                       Trajectories& tr, std::vector<Note>& notes);
/// Per stratum, the mean of r.population at each distinct x.
void longitudinal_curves(const Rows& r, Trajectories& tr);

// The residual structure's ACF and one group's fitted covariance (residual_plots.cpp).
ResidualStructurePlot residual_structure_plot(const LinearMixedModel& model);

/// Evenly spaced indices into [0, n), both ends kept, at most m of them.
std::vector<std::size_t> thin(std::size_t n, std::size_t m);
/// The frame's rows of a numeric data column, or empty when `name` is not one.
std::vector<double> frame_values(const ModelFrame& f, const DataFrame& data, const std::string& name);
/// Per frame row: the values of the fixed part's categorical variables other than x, joined by ", ".
std::vector<std::string> row_strata(const ModelFrame& f, const DataFrame& data, const std::string& x_name);
/// Per level: its rank in a seeded random order (the first k shown are a random sample).
std::vector<std::size_t> seeded_ranks(std::size_t L, std::uint64_t seed);
/// One random effect's caterpillar data from every level's mode and conditional SD: all levels in
/// level order, or evenly spaced ranks beyond options.max_persons (with a note); QQ over all.
RandomEffect caterpillar(const std::string& group, const std::string& term, const std::vector<std::string>& levels,
                         const std::vector<double>& value, const std::vector<double>& condsd,
                         const PlotOptions& options, std::vector<Note>& notes);

}  // namespace lmm::report::detail
