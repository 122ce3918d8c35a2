// Fitting from sufficient statistics: the accumulated blocks become the model's A (the layouts
// are the in-memory ones, src/model/cross_products.cpp), the schema's coding its frame without
// rows, and the schema's shift its beta0; from there the optimizer, the convergence check, the
// summary and the Satterthwaite df run unchanged.
#include <Eigen/Dense>
#include <cmath>
#include <fmt/format.h>
#include <algorithm>

#include "lmm/error.h"
#include "lmm/inference.h"
#include "fit/components.h"
#include "model/model_access.h"
#include "model/model_impl.h"
#include "stats/statistics_impl.h"

namespace lmm {

namespace {

using detail::Block;
using detail::Mat;

// The blocks of A from the statistics' sums. With `owner` (the statistics `s` themselves, to be
// discarded), each sum's memory is released as soon as its block is made, so that the statistics
// and A are not both held whole.
std::vector<std::vector<Block>> blocks_of(const SufficientStatistics::Impl& s, SufficientStatistics::Impl* owner) {
  auto release = [owner](std::vector<double> SufficientStatistics::Impl::Term::*v, std::size_t k) {
    if (owner) std::vector<double>().swap(owner->terms[k].*v);
  };
  if (owner) owner->index.reset();
  const auto K = s.terms.size();
  const auto m = static_cast<Eigen::Index>(s.p + 1);
  std::vector<std::vector<Block>> A(K + 1);
  for (std::size_t i = 0; i <= K; ++i) A[i].resize(i + 1);
  for (std::size_t k = 0; k < K; ++k) {
    const auto& t = s.terms[k];
    const auto q = static_cast<Eigen::Index>(t.q), nlev = static_cast<Eigen::Index>(t.nlev);
    detail::BlockDiag d;
    d.q = static_cast<int>(t.q);
    d.nblocks = nlev;
    d.data = Eigen::Map<const Mat>(t.diag.data(), q, q * nlev);
    release(&SufficientStatistics::Impl::Term::diag, k);
    A[k][k] = std::move(d);
    A[K][k] = Mat(Eigen::Map<const Mat>(t.xz.data(), m, q * nlev));
    release(&SufficientStatistics::Impl::Term::xz, k);
  }
  for (const auto& x : s.cross) {
    const auto qi = static_cast<Eigen::Index>(s.terms[x.i].q), qk = static_cast<Eigen::Index>(s.terms[x.k].q);
    std::vector<Eigen::Triplet<double>> trip;
    trip.reserve(x.values.size());
    for (std::uint64_t key : x.keys) {
      const auto li = static_cast<Eigen::Index>(key >> 32), lk = static_cast<Eigen::Index>(key & 0xffffffffULL);
      const double* v = x.values.data() + x.index.at(key);
      for (Eigen::Index c = 0; c < qk; ++c)
        for (Eigen::Index a = 0; a < qi; ++a) trip.emplace_back(li * qi + a, lk * qk + c, v[c * qi + a]);
    }
    detail::SpMat S(qi * static_cast<Eigen::Index>(s.terms[x.i].nlev), qk * static_cast<Eigen::Index>(s.terms[x.k].nlev));
    S.setFromTriplets(trip.begin(), trip.end());
    A[x.i][x.k] = std::move(S);
  }
  Mat akk = Eigen::Map<const Mat>(s.akk.data(), m, m);
  akk.triangularView<Eigen::StrictlyUpper>() = akk.transpose();
  A[K][K] = std::move(akk);
  return A;
}

// lme4's check.nobs.vs.nlev and check.nobs.vs.nRE on the totals (the schema's sample could not).
void check_counts(const SufficientStatistics& s) {
  const std::size_t n = s.nobs();
  if (n == 0) throw Error("the statistics hold no rows");
  for (const ReTermData& t : s.schema().coding.re) {
    if (t.nlevels() >= n)
      throw Error(fmt::format("the number of levels of the grouping factor '{}' ({}) must be less than the number "
                              "of observations ({})",
                              t.group, t.nlevels(), n));
    if (t.nlevels() * static_cast<std::size_t>(t.q()) >= n)
      throw Error(fmt::format("the number of random effects for '{}' ({}) must be less than the number of "
                              "observations ({})",
                              t.group, t.nlevels() * static_cast<std::size_t>(t.q()), n));
  }
}

// What the variance partition needs from the statistics: n, X'X, the column sums of X and per
// term the sum over levels of Z'Z (q x q).
struct PartitionInputs {
  double n = 0;
  Mat xtx;
  Eigen::VectorXd sumx;
  std::vector<Mat> zz;
  explicit PartitionInputs(const SufficientStatistics::Impl& s) : n(static_cast<double>(s.nobs)) {
    const auto p = static_cast<Eigen::Index>(s.p);
    xtx = Eigen::Map<const Mat>(s.akk.data(), p + 1, p + 1).topLeftCorner(p, p).selfadjointView<Eigen::Lower>();
    sumx = Eigen::Map<const Eigen::VectorXd>(s.sumx.data(), p);
    for (const auto& t : s.terms) {
      const auto q = static_cast<Eigen::Index>(t.q);
      zz.push_back(Eigen::Map<const Mat>(t.diag.data(), q * q, static_cast<Eigen::Index>(t.nlev)).rowwise().sum().reshaped(q, q));
    }
  }
};

bool in_fixed(const std::string& name, const std::vector<std::string>& fixed) {
  return name == "(Intercept)" || std::find(fixed.begin(), fixed.end(), name) != fixed.end();
}

// var(Xβ̂) (R's n - 1 denominator) from X'X and the column sums, in place of the row-by-row sum
// that variance_partition() makes when the frame has rows; the random-effect variance (the mean
// of z'Σz) from the sums of Z'Z; as performance's figures otherwise (variance_partition.cpp).
void statistics_variance_partition(const PartitionInputs& in, const LinearMixedModel& model, VariancePartition& v) {
  const auto beta = model.beta();
  const Eigen::Map<const Eigen::VectorXd> b(beta.data(), in.sumx.size());
  const double sum = in.sumx.dot(b);
  // (a difference of sums: rounding can leave it below 0 where the row-by-row variance is exactly 0)
  v.var_fixed = std::max(0.0, (b.dot(in.xtx * b) - sum * sum / in.n) / (in.n - 1));
  const auto& st = detail::model_state(model);
  const double s2 = model.sigma() * model.sigma();
  std::vector<std::string> seen;
  double vr = 0, vr_all = 0;
  for (std::size_t k = 0; k < in.zz.size(); ++k) {
    const auto& t = model.frame().re[k];
    const Eigen::Index q = in.zz[k].rows();
    const Mat S = s2 * st.lambda[k] * st.lambda[k].transpose();
    Mat counted = Mat::Zero(q, q);  // performance counts only slopes that are also fixed effects
    for (Eigen::Index a = 0; a < q; ++a)
      for (Eigen::Index c = 0; c < q; ++c)
        counted(a, c) = in_fixed(t.names[a], model.frame().fixed_names) && in_fixed(t.names[c], model.frame().fixed_names);
    if (std::find(seen.begin(), seen.end(), t.group) == seen.end()) vr += S.cwiseProduct(in.zz[k]).cwiseProduct(counted).sum() / in.n;
    seen.push_back(t.group);
    vr_all += S.cwiseProduct(in.zz[k]).sum() / in.n;
  }
  v.var_random = vr;
  v.var_random_all_terms = vr_all;
  v.var_residual = s2;
  const double total = v.var_fixed + vr + s2;
  v.icc_adjusted = vr / (vr + s2);
  v.icc_unadjusted = vr / total;
  v.r2_marginal = v.var_fixed / total;
  v.r2_conditional = (v.var_fixed + vr) / total;
}

// The fit of a model made from statistics.
Fitted fit_model(LinearMixedModel model, const FitOptions& options, const PartitionInputs& partition,
                 LevelTables tables = LevelTables::Fill) {
  OptimizerSummary opt = model.fit(options);
  ConvergenceReport conv = check_convergence(model, opt, options);
  FitResult result = detail::summarize(model, opt, tables == LevelTables::Fill);
  result.convergence = std::move(conv);
  statistics_variance_partition(partition, model, result.variance_partition);
  add_inference(model, result, options.ddf);
  return {std::move(model), std::move(result)};
}

void check_ddf(const FitOptions& options) {
  if (options.ddf == DdfMethod::KenwardRoger)
    throw Error("FitOptions::ddf KenwardRoger is not available from SufficientStatistics (it needs the rows); use "
                "Satterthwaite");
}

LinearMixedModel model_of(const SufficientStatistics& stats, Method method, SufficientStatistics::Impl* owner) {
  check_counts(stats);
  const auto& s = stats.impl();
  ModelFrame coding = s.schema->coding;
  coding.n_dropped = s.n_dropped;
  Eigen::VectorXd shift = Eigen::Map<const Eigen::VectorXd>(s.schema->shift.data(), static_cast<Eigen::Index>(s.p));
  auto A = blocks_of(s, owner);
  return LinearMixedModel(std::make_unique<detail::ModelState>(std::move(coding), method, std::move(A),
                                                               std::move(shift), s.nobs));
}

}  // namespace

LinearMixedModel make_model(const SufficientStatistics& stats, Method method) { return model_of(stats, method, nullptr); }

Fitted fit(const SufficientStatistics& stats, const FitOptions& options) {
  check_ddf(options);
  return fit_model(make_model(stats, options.method), options, PartitionInputs(stats.impl()));
}

Fitted fit(SufficientStatistics&& stats, const FitOptions& options, LevelTables tables) {
  check_ddf(options);
  const PartitionInputs partition(stats.impl());
  // The statistics' sums are released block by block as A is made, before the factor is.
  LinearMixedModel model = model_of(stats, options.method, &stats.impl_mut());
  { SufficientStatistics released = std::move(stats); }
  return fit_model(std::move(model), options, partition, tables);
}

}  // namespace lmm
