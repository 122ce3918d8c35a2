// Mergeable sufficient statistics of a linear mixed model: the cross-product blocks
// A = [Z X y]'[Z X y] accumulated from chunks of rows, in any order and any split, merged across
// processes or machines, written to a compact versioned binary form, and fitted from directly.
// Everything the profiled REML/ML objective, its optimum, the fixed effects with their df, the
// variance components and the conditional modes need is in A; only what needs the rows themselves
// (residuals and their quantiles, the R² that uses var(Xβ) row by row, plots) does not come from
// them. docs/scale-out.md describes the design.
//
//     auto schema = lmm::make_schema(sample, "y ~ time + (time | id)");
//     lmm::SufficientStatistics s(schema);
//     for (auto& chunk : chunks) s.accumulate(chunk);    // or on many workers, then merge()
//     auto [model, result] = lmm::fit(s);
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lmm/fit.h"

namespace lmm {

namespace detail {
struct LevelIndex;  // src/formula/level_index.h
}  // namespace detail

/// How every chunk's rows are coded before they are accumulated; agreed before accumulation (all
/// partial statistics that are merged must share it). Made from a sample of the data that holds
/// every level of every factor and grouping factor the model uses (a schema pass over the data
/// collects one): the factor levels (byte order, treatment contrasts, as the in-memory fit), the
/// fixed-effect columns and the response shift.
struct StatisticsSchema {
  /// A model frame without rows: formula, fixed_names, aliased, factors, columns, transforms and
  /// the random-effects terms' group, names and levels.
  ModelFrame coding;
  /// The response shift: least-squares coefficients of the response on X in the sample. Rows are
  /// accumulated with y - offset - X·shift, which keeps r²'s digits as the in-memory fit's shift
  /// does (any shift is exact; a good one only removes most of y's size).
  std::vector<double> shift;
  /// A 64-bit digest of everything above: statistics made under different schemas refuse to merge.
  std::uint64_t fingerprint = 0;
};

/// The schema from a sample table (e.g. the first rows of a file plus every row that brings a new
/// level). `shift` empty: computed from the sample; else used as given (p values), so that
/// processes that rebuild a schema from the same sample agree on it to the bit. Throws lmm::Error
/// as build_model_frame() does, and for options the statistics do not support yet (prior
/// weights, residual structures).
std::shared_ptr<const StatisticsSchema> make_schema(const DataFrame& sample, const std::string& formula,
                                                    const ModelFrameOptions& options = {},
                                                    const std::vector<double>& shift = {});

/// Picks, chunk by chunk, the rows a schema's sample needs: the first `head_rows` rows that have
/// every variable the model uses (for the response shift and the columns' aliasing), and every such
/// row that brings a value not seen before of a grouping variable (the combination, for a:b), of a
/// categorical variable, or of a numeric variable used as factor(x). Its memory is the distinct
/// values seen.
class SchemaSampler {
 public:
  explicit SchemaSampler(const std::string& formula, std::size_t head_rows = 20000);
  ~SchemaSampler();
  SchemaSampler(SchemaSampler&&) noexcept;
  SchemaSampler& operator=(SchemaSampler&&) noexcept;
  /// The rows of `chunk` to keep, ascending.
  std::vector<std::size_t> select(const DataFrame& chunk);
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class SufficientStatistics {
 public:
  explicit SufficientStatistics(std::shared_ptr<const StatisticsSchema> schema);
  ~SufficientStatistics();
  SufficientStatistics(SufficientStatistics&&) noexcept;
  SufficientStatistics& operator=(SufficientStatistics&&) noexcept;
  SufficientStatistics(const SufficientStatistics&);
  SufficientStatistics& operator=(const SufficientStatistics&);

  /// Adds the rows of `chunk`, coded by the schema; rows missing a variable the model uses are
  /// counted as dropped. Throws lmm::Error for a level the schema does not have (naming it).
  void accumulate(const DataFrame& chunk);
  /// Adds statistics accumulated from other rows under the same schema (else throws lmm::Error).
  void merge(const SufficientStatistics& other);

  /// The binary form: magic "LMMSTAT", format version, the schema's fingerprint, the counts and
  /// the blocks (little-endian doubles), and a checksum.
  std::string serialize() const;
  /// Reads serialize()'s output made under `schema`. Throws lmm::Error for bytes that are not
  /// statistics, another format version, a truncated or corrupt input (checksum), or another schema.
  static SufficientStatistics deserialize(std::string_view bytes, std::shared_ptr<const StatisticsSchema> schema);

  const StatisticsSchema& schema() const;
  std::size_t nobs() const;       ///< rows accumulated
  std::size_t n_dropped() const;  ///< rows skipped for a missing value

  struct Impl;
  const Impl& impl() const { return *impl_; }
  Impl& impl_mut() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// The model at lme4's start, built from the statistics (no rows held); as LinearMixedModel(frame).
LinearMixedModel make_model(const SufficientStatistics& stats, Method method = Method::REML);

/// Fits from the statistics as lmm::fit() fits from a table: the same FitResult (fixed effects with
/// df and p, variance components, ranef, coef, convergence check, ANOVA) except what needs the
/// rows: scaled_residuals are NaN and variance_partition is computed from A (var(Xβ) from X'X and
/// the column sums). FitOptions::ddf KenwardRoger is refused (it needs the rows).
Fitted fit(const SufficientStatistics& stats, const FitOptions& options = {});
/// Whether fit(statistics) fills FitResult::ranef and ::coef. With millions of levels those
/// tables (strings and small vectors per level) are larger than the model itself; without them,
/// for_each_level() gives the same rows one at a time.
enum class LevelTables { Fill, Omit };

/// The same, releasing the statistics' memory once the model holds the blocks (`stats` is left
/// empty): the peak is then the model and the result, not the statistics as well.
Fitted fit(SufficientStatistics&& stats, const FitOptions& options = {}, LevelTables tables = LevelTables::Fill);

/// The rows of random_effects(model) and coefficients(model) (lmm/ranef.h) one level at a time, in
/// the same order and with the same values, without holding the tables: `visit` sees each level's
/// two rows once (they are reused: copy what you keep).
void for_each_level(const LinearMixedModel& model,
                    const std::function<void(const RandomEffectLevel&, const LevelCoefficients&)>& visit);

/// What needs the rows after a fit from statistics, in a second pass over them chunk by chunk:
/// per row of a chunk the model uses, Xβ̂ + Zb̂ (+ offset) and y minus that.
class ResidualPass {
 public:
  explicit ResidualPass(const LinearMixedModel& model);
  struct Rows {
    std::vector<std::size_t> rows;  ///< the chunk's rows used (0-based), ascending
    std::vector<double> fitted, residual;
    /// Per random-effects term of the model (its order), the level of each row used.
    std::vector<std::vector<std::int32_t>> refs;
  };
  /// Throws lmm::Error for a level the model does not have.
  Rows operator()(const DataFrame& chunk) const;
  /// The --residuals file's header line (lmm::write_residuals' layout: row, each grouping factor
  /// once, fitted, residual, scaled_residual) and one chunk's lines, its rows numbered from
  /// first_row + 1; rows the model did not use get NA (grouping levels too).
  std::string header() const;
  void write_lines(std::ostream& out, const Rows& rows, std::size_t first_row, std::size_t nrows,
                   double sigma) const;

 private:
  const LinearMixedModel& model_;
  std::vector<double> beta_;
  std::vector<std::vector<double>> ranef_;
  std::shared_ptr<const detail::LevelIndex> index_;  // the model's level lookups, made once
};

}  // namespace lmm
