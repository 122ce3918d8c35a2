// Per-row fitted values and residuals of a fitted model, written as CSV.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/model.h"

namespace lmm {

/// Writes one line per data row (`data_rows` rows, numbered from 1 as in error messages):
/// `row`, the level of each grouping factor, `fitted` (Xβ̂ + Zb̂), `residual` (y - fitted) and
/// `scaled_residual` (residual / σ̂, lme4's residuals(m, scaled = TRUE)), and with a residual
/// structure `normalized_residual` (normalized_residuals()). Rows the model dropped for
/// missing values get NA residuals, and their grouping levels read from `data` when it is given
/// (NA without it, or where the grouping value itself is missing). The file is written by
/// lmm::write_file_atomically (a temporary in the same folder, renamed at the end), so an
/// interrupted run never leaves a half-written file. Throws lmm::Error if the file cannot be written.
/// nlme's normalized residuals (resid(m, type = "normalized")), one per row used: the conditional
/// residuals over σ, premultiplied per group of ModelFrameOptions::residual by the inverse Cholesky
/// factor of its D R D in the structure's order (time or visit; nlme uses the data's order within
/// a group, the same for data sorted by time); residual / σ without a structure.
std::vector<double> normalized_residuals(const LinearMixedModel& model);

void write_residuals(const std::string& path, const LinearMixedModel& model, std::size_t data_rows,
                     const DataFrame* data = nullptr);

}  // namespace lmm
