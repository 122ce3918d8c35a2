// From a table and a formula to model matrices: y, X (fixed effects) and the random-effects terms.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lmm/data.h"
#include "lmm/formula.h"

namespace lmm {

/// One random-effects term, stored compactly as lme4's and MixedModels.jl's ReMat: for each row,
/// the level of the grouping factor and the q values of the term's model matrix; Z is never formed.
struct ReTermData {
  std::string group;                ///< grouping factor's name: "Subject", "cask:batch"
  std::vector<std::string> levels;  ///< level labels ("a:A" for an interaction)
  std::vector<std::string> names;   ///< column names: "(Intercept)", "Days"
  std::vector<std::int32_t> refs;   ///< per row: level index
  std::vector<double> z;            ///< per row: q values, row-major (z[i*q + j])
  int q() const { return static_cast<int>(names.size()); }
  std::size_t nlevels() const { return levels.size(); }
};

struct ModelFrame {
  Formula formula;
  std::string response;                 ///< response label
  std::vector<double> y;                ///< n
  std::vector<std::string> fixed_names;  ///< p columns kept, R's names ("(Intercept)", "grouptreatment")
  std::vector<double> X;                ///< n x p, column-major
  std::vector<std::string> aliased;     ///< columns dropped as linear combinations of earlier ones
  std::vector<ReTermData> re;           ///< ordered by decreasing number of levels (stable), as lme4
  std::vector<std::size_t> rows;        ///< the data rows used (0-based)
  std::size_t n_dropped = 0;            ///< rows dropped for a missing value in a variable the model uses

  std::size_t n() const { return y.size(); }
  std::size_t p() const { return fixed_names.size(); }
};

/// Builds the model matrices. Throws lmm::Error for a variable not in the data (listing the
/// columns), a non-numeric response, infinite values (naming column and row), no rows left after
/// dropping missing values, a formula without random-effects terms, a grouping factor with fewer
/// than 2 levels, or more random effects than observations allow.
ModelFrame build_model_frame(const DataFrame& data, const Formula& formula);

}  // namespace lmm
