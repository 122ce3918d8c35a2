// Per-row fitted values and residuals of a fitted model, written as CSV.
#pragma once
#include <cstddef>
#include <string>

#include "lmm/data.h"
#include "lmm/model.h"

namespace lmm {

/// Writes one line per data row (`data_rows` rows, numbered from 1 as in error messages):
/// `row`, the level of each grouping factor, `fitted` (Xβ̂ + Zb̂), `residual` (y - fitted) and
/// `scaled_residual` (residual / σ̂, lme4's residuals(m, scaled = TRUE)). Rows the model dropped for
/// missing values get NA residuals, and their grouping levels read from `data` when it is given
/// (NA without it, or where the grouping value itself is missing). The file is written by
/// lmm::write_file_atomically (a temporary in the same folder, renamed at the end), so an
/// interrupted run never leaves a half-written file. Throws lmm::Error if the file cannot be written.
void write_residuals(const std::string& path, const LinearMixedModel& model, std::size_t data_rows,
                     const DataFrame* data = nullptr);

}  // namespace lmm
