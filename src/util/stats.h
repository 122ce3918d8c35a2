// R's type-7 quantile (quantile(x, probs), the default), in one place for the summary's scaled
// residuals, the bootstrap's percentile intervals and the report's QQ line. Not a public header.
#pragma once
#include <vector>

namespace lmm::detail {

/// R's quantile(x, prob, type = 7) of ascending data; NaN for no data.
double quantile7(const std::vector<double>& sorted, double prob);

/// The same at ascending probabilities of unsorted data. Only the order statistics it reads are
/// put in place (partial selection on what is left to the right), not the whole vector sorted: a
/// million rows' sort was a tenth of a large fit's time. Reorders `v`.
std::vector<double> quantiles7(std::vector<double>& v, const std::vector<double>& probs);

}  // namespace lmm::detail
