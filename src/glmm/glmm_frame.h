// The GLMM's rows from a table and a formula (src/glmm/glmm_frame.cpp). Not a public header.
#pragma once
#include <string>
#include <vector>

#include "lmm/glmm.h"

namespace lmm::glmm_detail {

struct GlmmRows {
  ModelFrame frame;
  std::vector<double> y;   ///< per row: 0/1, a proportion (cbind) or a count
  std::vector<double> pw;  ///< prior weights: trials for cbind(), else 1
  std::vector<std::string> messages;
};

/// Throws lmm::Error for a response the family cannot take (naming the value and its row), a
/// response without variation, and prior weights (not supported).
GlmmRows glmm_rows(const DataFrame& data, const Formula& formula, const GlmmOptions& options);

}  // namespace lmm::glmm_detail
