// The pieces of the power simulation (src/power): what one sample size's simulations need, the test,
// and the run over sizes. Not a public header.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "lmm/inference.h"
#include "lmm/power.h"

namespace lmm::power_detail {

/// The test applied to each simulated study.
struct TestSpec {
  enum class Kind { Coefficient, Term, RandomSlope };
  Kind kind = Kind::Coefficient;
  std::string label;       ///< as reported
  std::size_t column = 0;  ///< Coefficient: the column of X
  ContrastMatrix L;        ///< Term: the type III hypothesis
  std::size_t re_term = 0, re_column = 0;  ///< RandomSlope: the term and its column dropped
};

/// One sample size: the complete design, the true parameters and the test.
struct SizeProblem {
  std::size_t persons = 0;
  ModelFrame frame;                   ///< the complete design (y: placeholder)
  SimulationParameters truth;
  SimulationDesign design;            ///< frame's X and terms, for simulate_responses
  std::vector<double> theta_start;    ///< the true θ (a zero variance nudged off the boundary)
  ModelFrame null_frame;              ///< RandomSlope: the model without the slope
  std::vector<double> null_theta_start;
  double dropout = 0;                 ///< growth designs: monotone dropout per wave
  std::vector<int> wave;              ///< per row: its wave (0 = baseline), for the dropout
  TestSpec test;
  double effect = 0;                  ///< the tested coefficient's true value (NaN: not one)
};

/// Builds the problem of one sample size (called once per size, before its simulations).
using ProblemBuilder = std::function<SizeProblem(std::size_t persons)>;

/// Resolves PowerOptions::test against a frame ("" → `fallback`).
TestSpec resolve_test(const ModelFrame& frame, const std::string& test, const std::string& fallback);

/// The frame without column `column` of random-effects term `term` (the null model of the LRT).
ModelFrame drop_random_column(const ModelFrame& frame, std::size_t term, std::size_t column);

/// θ of λ per term (each term's column-wise lower triangle), diagonal values below `floor` raised to
/// it (a start off the boundary).
std::vector<double> theta_of(const std::vector<std::vector<double>>& lambda,
                             const std::vector<ReTermData>& re, double floor);

/// Fills pb's test, θ starts, null model and effect from its frame and truth.
void complete_problem(SizeProblem& pb, const std::string& test, const std::string& fallback);

/// Runs the simulations for every size of `options` and summarises them.
PowerResult run_power(const ProblemBuilder& build, const PowerOptions& options);

}  // namespace lmm::power_detail
