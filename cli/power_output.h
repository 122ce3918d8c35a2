// `lmm power`'s JSON and HTML page. Not a public header.
#pragma once
#include <string>

#include "lmm/power.h"

namespace lmm::cli {

/// The result as one JSON object, keys in byte order: alpha, curve [{failed, lower, mean_df,
/// mean_estimate, mc_se, nonconverged_share, nsim, persons, power, rejections, seconds,
/// singular_share, upper}], effect, formula, level, notes, nsim, seed, target, test, test_method,
/// threads. `indent` -1: one line.
std::string power_json(const PowerResult& result, double target, int indent);

/// The power curve (power against persons, Wilson intervals, the target line) as a self-contained
/// page in the report's style.
std::string power_html(const PowerResult& result, double target);

}  // namespace lmm::cli
