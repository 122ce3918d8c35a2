// Internal to the model frame: R's coding of factors and its data-dependent numeric
// transformations, each in one place.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "lmm/formula.h"
#include "lmm/model_frame.h"

namespace lmm::detail {

/// R's rule for coding each factor of each term (stats' TermCode): by contrasts (true) when the term
/// without it is empty or contained in an earlier term, else by indicators of all its levels;
/// without an intercept, the first factor (of the first term that has one) with more than one
/// level gets indicators. `is_factor(e)` and `nlevels(e)` tell about a variable. Numeric variables
/// get true (unused).
std::vector<std::vector<bool>> term_contrast_codes(
    const std::vector<Term>& terms, bool intercept,
    const std::function<bool(const Expr&)>& is_factor,
    const std::function<std::size_t(const Expr&)>& nlevels);

/// R's contr.treatment / contr.sum / contr.helmert / contr.poly for `levels`.
CodingMatrix contrast_matrix(Contrasts c, const std::vector<std::string>& levels);

/// R's poly(x, degree): the orthogonal polynomials' coefficients (alpha, norm2) computed from x.
/// Throws lmm::Error if degree >= the number of distinct values of x (naming `label`).
TransformCoding fit_poly(const std::vector<double>& x, int degree, const std::string& label);
/// poly's columns at x from saved coefficients (R's three-term recurrence, predict.poly).
std::vector<std::vector<double>> eval_poly(const std::vector<double>& x, const TransformCoding& c);
/// x, x^2, ..., x^degree (poly(x, degree, raw = TRUE)).
std::vector<std::vector<double>> raw_poly(const std::vector<double>& x, int degree);

/// scale(x): the mean and the standard deviation (n - 1) of x.
TransformCoding fit_scale(const std::vector<double>& x, const std::string& label);

}  // namespace lmm::detail
