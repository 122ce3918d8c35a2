// The model's side of the residual structure: A_k formed once, A = Σ_k c_k(η) A_k and log|R(η)|
// when η changes (see src/model/residual.h).
#include <algorithm>

#include "model/model_access.h"
#include "model/residual.h"

namespace lmm {

void detail::ModelState::setup_residual(const std::vector<double>& y) {
  auto rc = std::make_shared<const ResidualCovariance>(frame);
  residual = rc;
  A_keys = residual_cross_products(frame, y.data(), *rc, coupled_terms(frame, *rc));
  residual_eta = rc->start();
  if (!rc->fixed()) theta.insert(theta.end(), residual_eta.begin(), residual_eta.end());
  recombine_residual();
}

void detail::ModelState::set_residual_eta(const std::vector<double>& eta) {
  if (eta == residual_eta) return;
  if (static_cast<int>(eta.size()) != residual->nparam()) return;  // fixed: θ has no tail
  residual_eta = eta;
  recombine_residual();
}

void detail::ModelState::recombine_residual() {
  combine_cross_products(A_keys, residual->coefficients(residual_eta.data()), A);
  log_det_residual = residual->logdet(residual_eta.data());
}

void detail::ModelState::set_residual_response(const std::vector<double>& y) {
  A_keys = residual_cross_products(frame, y.data(), *residual, coupled_terms(frame, *residual));
  recombine_residual();
  mark_stale();
}

ResidualEstimates LinearMixedModel::residual_estimates() const {
  if (!impl_->residual) return {};
  return impl_->residual->estimates(impl_->residual_eta.data());
}

ResidualEstimates detail::residual_estimates_at(const LinearMixedModel& model, const std::vector<double>& eta) {
  const ModelState& m = model_state(model);
  if (!m.residual || static_cast<int>(eta.size()) != m.residual->nparam()) return {};
  return m.residual->estimates(eta.data());
}

double LinearMixedModel::logdet_residual() const { return impl_->log_det_residual; }

std::size_t LinearMixedModel::ntheta_random() const { return static_cast<std::size_t>(impl_->ntheta_re); }

}  // namespace lmm
