// Longitudinal data shaping: wide (one row per person, a column per wave) to long (one row per
// person and wave, what a mixed model needs) and back; centering of predictors, including the
// person-mean centering that splits a time-varying predictor into within- and between-person parts.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "lmm/data.h"

namespace lmm {

/// One time-varying variable in wide format: the long column `name` and the wide columns matching
/// `pattern`, where the one `*` in the pattern stands for the time (`y_t*` matches y_t1, y_t2,
/// ...).
struct WidePattern {
  std::string name;     ///< the long column: "y"
  std::string pattern;  ///< "y_t*"
  /// Instead of a pattern (wide-to-long only): the wide columns in time order, paired with
  /// WideToLongOptions::times.
  std::vector<std::string> columns;
};

/// Parses `NAME=PATTERN` or `PATTERN` (then NAME is the pattern's text before the first character
/// that is not a letter, digit or '.': `y_t*` -> `y`). Throws lmm::Error without exactly one `*`.
WidePattern parse_wide_pattern(const std::string& spec);

struct WideToLongOptions {
  std::string id;                     ///< the id column (required; kept)
  std::vector<WidePattern> patterns;  ///< time-varying variables
  /// The time each wide column stands for, in order of the matched columns; empty: the text the `*`
  /// matched (a number where every matched text is one).
  std::vector<std::string> times;
  std::string time_name = "time";
  bool drop_missing = false;  ///< leave out rows where every time-varying value is missing
};

/// Wide to long: one row per (id, time), ids in the order of the file, times in the order of the
/// wide columns; the columns that match no pattern are carried along (time-invariant), then the
/// time column, then one column per pattern. Each pattern must match the same set of times
/// (a time a pattern lacks is missing for it). Throws lmm::Error for a pattern matching nothing, a
/// missing or repeated id, a column name clash.
DataFrame wide_to_long(const DataFrame& wide, const WideToLongOptions& options);

struct LongToWideOptions {
  std::string id;
  std::string time = "time";
  std::vector<WidePattern> patterns;  ///< name = the long column, pattern builds the wide names
};

/// Long to wide: one row per id (in order of first appearance), the other columns carried along
/// (they must be constant within an id, else lmm::Error naming the column and the id), then for
/// each pattern the wide columns for every time (sorted numerically for a numeric time, in order
/// of appearance otherwise). A (id, time) pair missing from the long data gives missing values;
/// a repeated pair is an error.
DataFrame long_to_wide(const DataFrame& long_data, const LongToWideOptions& options);

/// Centering, applied to a table before fitting and recorded so that prediction on new data
/// applies the same constants.
struct Centering {
  enum class Kind {
    GrandMean,   ///< x := x - mean(x)
    AtValue,     ///< x := x - value (`time` at baseline or at the middle wave)
    PersonMean,  ///< adds x_between = mean of x within the person, x_within = x - x_between
  };
  Kind kind = Kind::GrandMean;
  std::string variable;
  std::string group;  ///< PersonMean: the person (id) column
  double value =
      0;  ///< GrandMean: the mean (computed when `computed` is false); AtValue: the value
  bool computed = false;
  std::map<std::string, double>
      person_means;  ///< PersonMean: per person, from the data it was fitted to
};

/// Parses `x` (grand mean), `x=VALUE` (at a value), and with `person = true` `x:id`.
Centering parse_centering(const std::string& spec, bool person);

/// Applies the centerings in order (person-mean ones are meant to come first, so that `x_between`
/// can then be grand-mean centered). Means are over the rows where the variable is present. A
/// centering not yet `computed` takes its constants from `data` and records them; a computed one
/// reuses them (prediction): a person seen when fitting keeps the mean from the fitted data, a new
/// person gets the mean of its rows in `data`.
void apply_centering(DataFrame& data, std::vector<Centering>& centerings);

}  // namespace lmm
