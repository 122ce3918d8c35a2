// Upper-tail probabilities of the t and F distributions (Boost.Math), NaN where undefined.
#pragma once

namespace lmm::detail {

/// 2 P(T_df > |t|), as R's 2 * pt(abs(t), df, lower.tail = FALSE). Infinite df: the normal.
double t_pvalue(double t, double df);
/// P(F_{df1,df2} > F), as R's pf(F, df1, df2, lower.tail = FALSE).
double f_pvalue(double F, double df1, double df2);

}  // namespace lmm::detail
