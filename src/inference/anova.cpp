// lmerTest's type III hypotheses and ANOVA table, and the entry point that adds df and p-values
// to a fit.
//
// Type III contrasts (lmerTest 3.1-3, R/contrast_utils.R, extract_contrasts_type3, for treatment
// contrasts): write every column of the "rank-deficient" design rdX (an intercept, then each term
// with all levels of its factors: model.matrix(~ 0 + term)) as a combination of the columns of X;
// the coefficients form L (rows: rdX columns, columns: X columns). Then, from the highest-order
// term down, replace the columns of L belonging to a term by their residuals on the columns of the
// terms that contain it (same numeric variables, strictly more variables). The rows of L named as
// X's columns, read column-wise per term, are the term's hypothesis.
//
// lmerTest computes the coefficients as ginv(X) %*% rdX from the data; with treatment contrasts and
// a full-rank X they are exact algebraic identities (1{f = ref} = 1 - Σ_{l != ref} 1{f = l}), which
// is what this file uses: no pass over the rows. The term and coding of each column come from the
// model frame (ModelFrame::columns). Other contrasts (sum, Helmert, polynomial) are handled as
// lmerTest's get_contrasts_type3 does: the hypotheses are formed for treatment coding and mapped to
// the model's coding by L %*% ginv(X_treatment) %*% X, again exactly (each contrast column is a
// combination of level indicators).
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "inference/distributions.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "model/model_impl.h"

namespace lmm {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;


// R's zapsmall(x, digits = 7) on a whole matrix.
void zapsmall(MatrixXd& M) {
  const double mx = M.size() ? M.cwiseAbs().maxCoeff() : 0.0;
  if (!(mx > 0)) return;
  const int digits = std::max(0, 7 - static_cast<int>(std::ceil(std::log10(mx))));
  const double scale = std::pow(10.0, digits);
  for (Index i = 0; i < M.size(); ++i) M.data()[i] = std::nearbyint(M.data()[i] * scale) / scale;
}

// lmerTest's doolittle(x, eps = 1e-6): x = L U with L unit lower triangular.
MatrixXd doolittle_L(const MatrixXd& x) {
  const Index n = x.rows();
  MatrixXd L = MatrixXd::Identity(n, n), U = MatrixXd::Zero(n, n);
  const double eps = 1e-6;
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < n; ++j) {
      U(i, j) = x(i, j);
      for (Index k = 0; k < i; ++k) U(i, j) -= L(i, k) * U(k, j);
    }
    for (Index j = i + 1; j < n; ++j) {
      L(j, i) = x(j, i);
      for (Index k = 0; k < i; ++k) L(j, i) -= L(j, k) * U(k, i);
      L(j, i) = std::abs(U(i, i)) < eps ? 0 : L(j, i) / U(i, i);
    }
  }
  for (Index i = 0; i < L.size(); ++i)
    if (std::abs(L.data()[i]) < eps) L.data()[i] = 0;
  return L;
}

ContrastMatrix rows_of(const MatrixXd& M) {
  ContrastMatrix out;
  for (Index i = 0; i < M.rows(); ++i) {
    std::vector<double> r(static_cast<std::size_t>(M.cols()));
    for (Index j = 0; j < M.cols(); ++j) r[static_cast<std::size_t>(j)] = M(i, j);
    out.push_back(std::move(r));
  }
  return out;
}

// F statistic without df (for --ddf none): as contestMD, directions of L V L' above sqrt(eps).
FTest wald_f(const std::vector<double>& beta, const std::vector<double>& vcov, const ContrastMatrix& L) {
  FTest r;
  const auto p = static_cast<Index>(beta.size());
  const auto m = static_cast<Index>(L.size());
  if (m == 0) return r;
  MatrixXd Lm(m, p);
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < p; ++j) Lm(i, j) = L[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)];
  const Eigen::Map<const MatrixXd> V(vcov.data(), p, p);
  const Eigen::Map<const VectorXd> b(beta.data(), p);
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(Lm * V * Lm.transpose());
  const VectorXd d = eig.eigenvalues().reverse();
  const MatrixXd P = eig.eigenvectors().rowwise().reverse();
  const double tol = std::max(std::sqrt(std::numeric_limits<double>::epsilon()) * d(0), 0.0);
  double F = 0;
  int q = 0;
  for (; q < m && d(q) > tol; ++q) {
    const double e = P.col(q).dot(Lm * b);
    F += e * e / d(q);
  }
  if (q == 0) return r;
  r.num_df = q;
  r.F = F / q;
  return r;
}

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// A column of a design matrix in treatment coding: the product of numeric variables (a variable
// and, for poly(), its column) and level indicators (variable -> level index).
struct Monomial {
  std::set<std::pair<std::string, std::size_t>> numerics;
  std::map<std::string, std::size_t> levels;
  bool operator<(const Monomial& o) const {
    return std::tie(numerics, levels) < std::tie(o.numerics, o.levels);
  }
  bool operator==(const Monomial& o) const { return numerics == o.numerics && levels == o.levels; }
};

// The frame's fixed-effect terms and columns, read as treatment coding: a contrast column k of a
// factor stands for the indicator of level k + 1, and level 0 is the reference.
struct Design {
  std::vector<std::string> labels;             // per term
  std::vector<std::vector<std::string>> vars;  // per term, its variables' labels
  std::map<std::string, const FactorCoding*> factors;
  std::map<std::string, std::set<std::size_t>> numeric_columns;  // poly(x, 2): {0, 1}
  std::set<std::string> has_reference;  // factors coded by contrasts somewhere
  std::vector<Monomial> xcols;          // per column of X
  std::vector<std::vector<Index>> colmap;  // term -> its columns (lmerTest's term2colX)
  std::map<Monomial, Index> xindex;
  bool numeric(const std::string& v) const { return !factors.count(v); }
  std::set<std::string> var_set(int t) const {
    return {vars[static_cast<std::size_t>(t)].begin(), vars[static_cast<std::size_t>(t)].end()};
  }
  std::set<std::string> numerics_of(int t) const {
    std::set<std::string> s;
    for (const auto& v : vars[static_cast<std::size_t>(t)])
      if (numeric(v)) s.insert(v);
    return s;
  }
};

Design read_design(const ModelFrame& frame) {
  Design d;
  for (const auto& t : frame.formula.fixed) {
    d.labels.push_back(t.label());
    std::vector<std::string> vs;
    for (const auto& e : t.factors) vs.push_back(e.label());
    d.vars.push_back(std::move(vs));
  }
  for (const FactorCoding& f : frame.factors) d.factors[f.expr] = &f;
  d.colmap.resize(d.labels.size());
  for (std::size_t j = 0; j < frame.columns.size(); ++j) {
    const ColumnCoding& c = frame.columns[j];
    Monomial m;
    for (const ColumnPart& part : c.parts) {
      switch (part.kind) {
        case ColumnPart::Kind::Numeric:
          m.numerics.insert({part.expr, part.index});
          d.numeric_columns[part.expr].insert(part.index);
          break;
        case ColumnPart::Kind::Contrast:
          m.levels[part.expr] = part.index + 1;
          d.has_reference.insert(part.expr);
          break;
        case ColumnPart::Kind::Indicator:
          m.levels[part.expr] = part.index;
          break;
      }
    }
    if (c.term >= 0) d.colmap[static_cast<std::size_t>(c.term)].push_back(static_cast<Index>(j));
    d.xindex[m] = static_cast<Index>(j);
    d.xcols.push_back(std::move(m));
  }
  return d;
}

// Writes a monomial as a combination of X's columns, replacing the indicator of a reference level
// by 1 - Σ (the other levels' indicators) until every piece is a column.
class Expander {
 public:
  explicit Expander(const Design& d) : d_(d) {}
  bool failed = false;

  void expand(const Monomial& m, double coef, VectorXd& row) {
    if (failed) return;
    if (auto it = d_.xindex.find(m); it != d_.xindex.end()) {
      row(it->second) += coef;
      return;
    }
    for (const auto& [v, l] : m.levels) {
      if (!d_.has_reference.count(v) || l != 0) continue;
      Monomial without = m;
      without.levels.erase(v);
      expand(without, coef, row);
      const std::size_t nl = d_.factors.at(v)->levels.size();
      for (std::size_t other = 1; other < nl; ++other) {
        Monomial with = m;
        with.levels[v] = other;
        expand(with, -coef, row);
      }
      return;
    }
    failed = true;
  }

 private:
  const Design& d_;
};

// rdX's columns: an intercept, then each term with all levels of its factors.
std::vector<Monomial> rank_deficient_columns(const Design& d, bool intercept) {
  std::vector<Monomial> rd;
  if (intercept) rd.emplace_back();
  for (const auto& vars : d.vars) {
    std::vector<Monomial> acc{Monomial{}};
    for (const auto& v : vars) {
      std::vector<Monomial> next;
      if (d.numeric(v)) {
        for (std::size_t c : d.numeric_columns.count(v) ? d.numeric_columns.at(v) : std::set<std::size_t>{0})
          for (auto m : acc) {
            m.numerics.insert({v, c});
            next.push_back(m);
          }
      } else {
        for (std::size_t l = 0; l < d.factors.at(v)->levels.size(); ++l)
          for (auto m : acc) {
            m.levels[v] = l;
            next.push_back(m);
          }
      }
      acc = std::move(next);
    }
    rd.insert(rd.end(), acc.begin(), acc.end());
  }
  return rd;
}

// Orthogonalise each term against the terms containing it, highest order first.
void orthogonalise(const Design& d, MatrixXd& L) {
  const auto nterms = static_cast<int>(d.labels.size());
  std::vector<int> order(static_cast<std::size_t>(nterms));
  for (int t = 0; t < nterms; ++t) order[static_cast<std::size_t>(t)] = t;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return d.vars[static_cast<std::size_t>(a)].size() > d.vars[static_cast<std::size_t>(b)].size();
  });
  for (int t : order) {
    const auto vt = d.var_set(t);
    const auto& own = d.colmap[static_cast<std::size_t>(t)];
    std::vector<Index> regressors;
    for (int u = 0; u < nterms; ++u) {
      if (u == t) continue;
      const auto vu = d.var_set(u);
      if (vu.size() > vt.size() && std::includes(vu.begin(), vu.end(), vt.begin(), vt.end()) &&
          d.numerics_of(u) == d.numerics_of(t))
        regressors.insert(regressors.end(), d.colmap[static_cast<std::size_t>(u)].begin(),
                          d.colmap[static_cast<std::size_t>(u)].end());
    }
    if (regressors.empty() || own.empty()) continue;
    MatrixXd R(L.rows(), static_cast<Index>(regressors.size()));
    for (std::size_t k = 0; k < regressors.size(); ++k) R.col(static_cast<Index>(k)) = L.col(regressors[k]);
    MatrixXd Y(L.rows(), static_cast<Index>(own.size()));
    for (std::size_t k = 0; k < own.size(); ++k) Y.col(static_cast<Index>(k)) = L.col(own[k]);
    Eigen::ColPivHouseholderQR<MatrixXd> qr(R);
    MatrixXd res = Y - R * qr.solve(Y);
    zapsmall(res);
    for (std::size_t k = 0; k < own.size(); ++k) L.col(own[k]) = res.col(static_cast<Index>(k));
  }
}

// ginv(X_treatment) %*% X: column j writes X's column j (contrast columns as combinations of level
// indicators) in the treatment-coded columns. The identity when every factor has treatment
// contrasts. False if some piece is not a column.
bool coding_map(const Design& d, const ModelFrame& frame, MatrixXd& map) {
  const auto p = static_cast<Index>(d.xcols.size());
  map = MatrixXd::Zero(p, p);
  Expander ex(d);
  for (Index j = 0; j < p; ++j) {
    std::vector<std::pair<Monomial, double>> pieces{{Monomial{}, 1.0}};
    for (const ColumnPart& part : frame.columns[static_cast<std::size_t>(j)].parts) {
      std::vector<std::pair<Monomial, double>> next;
      const CodingMatrix C = part.kind == ColumnPart::Kind::Contrast ? d.factors.at(part.expr)->matrix() : CodingMatrix{};
      for (auto [m, c] : pieces) {
        if (part.kind == ColumnPart::Kind::Numeric) {
          m.numerics.insert({part.expr, part.index});
          next.emplace_back(m, c);
        } else if (part.kind == ColumnPart::Kind::Indicator) {
          m.levels[part.expr] = part.index;
          next.emplace_back(m, c);
        } else {
          for (std::size_t l = 0; l < C.levels; ++l) {
            if (C(l, part.index) == 0) continue;
            m.levels[part.expr] = l;
            next.emplace_back(m, c * C(l, part.index));
          }
        }
      }
      pieces = std::move(next);
    }
    VectorXd col = VectorXd::Zero(p);
    for (const auto& [m, c] : pieces) ex.expand(m, c, col);
    map.col(j) = col;
  }
  zapsmall(map);
  return !ex.failed;
}

// Type I (Doolittle) hypotheses, which lmerTest uses when there is one column or one term.
TermContrasts type1_contrasts(const ModelFrame& frame, const Design& d) {
  TermContrasts out;
  const auto p = static_cast<Index>(frame.p());
  if (p == 1 && frame.formula.intercept) return out;
  Eigen::Map<const MatrixXd> X(frame.X.data(), static_cast<Index>(frame.n()), p);
  const MatrixXd XtX = X.transpose() * X;
  const MatrixXd L = p == 1 ? MatrixXd::Ones(1, 1) : doolittle_L(XtX);
  for (std::size_t t = 0; t < d.labels.size(); ++t) {
    MatrixXd rows(static_cast<Index>(d.colmap[t].size()), p);
    for (std::size_t i = 0; i < d.colmap[t].size(); ++i)
      rows.row(static_cast<Index>(i)) = L.col(d.colmap[t][i]).transpose();
    out.terms.push_back(d.labels[t]);
    out.L.push_back(rows_of(rows));
  }
  return out;
}

// L's rows for rdX's columns, in treatment coding; false if the formula is not hierarchical.
bool treatment_hypotheses(const Design& d, const std::vector<Monomial>& rd, MatrixXd& L) {
  const auto p = static_cast<Index>(d.xcols.size());
  L = MatrixXd::Zero(static_cast<Index>(rd.size()), p);
  Expander ex(d);
  for (std::size_t r = 0; r < rd.size(); ++r) {
    VectorXd row = VectorXd::Zero(p);
    ex.expand(rd[r], 1.0, row);
    L.row(static_cast<Index>(r)) = row.transpose();
  }
  if (ex.failed) return false;
  orthogonalise(d, L);
  return true;
}

}  // namespace

TermContrasts type3_contrasts(const ModelFrame& frame) {
  TermContrasts out;
  const auto p = static_cast<Index>(frame.p());
  if (p == 0 || frame.formula.fixed.empty()) return out;  // y ~ 1: no hypotheses (lmerTest's table is empty)
  if (frame.columns.size() != frame.p()) {
    out.unavailable = "the model frame does not record its columns' terms";
    return out;
  }
  const Design d = read_design(frame);
  if (p <= 1 || d.labels.size() <= 1) return type1_contrasts(frame, d);
  if (!frame.aliased.empty()) {
    out.unavailable = "the fixed-effect design is rank deficient (aliased columns were dropped)";
    return out;
  }
  const std::vector<Monomial> rd = rank_deficient_columns(d, frame.formula.intercept);
  MatrixXd L, map;
  if (!treatment_hypotheses(d, rd, L) || !coding_map(d, frame, map)) {
    out.unavailable = "the formula is not hierarchical (a term's margins are missing), so type III hypotheses are not formed";
    return out;
  }
  // Rows of L named as X's columns; a term's hypothesis is its columns, transposed, then mapped to
  // the model's coding.
  MatrixXd Lx(p, p);
  for (Index j = 0; j < p; ++j) {
    const auto it = std::find(rd.begin(), rd.end(), d.xcols[static_cast<std::size_t>(j)]);
    if (it == rd.end()) {
      out.unavailable = "column '" + frame.fixed_names[static_cast<std::size_t>(j)] + "' is not a column of its term's design";
      return out;
    }
    Lx.row(j) = L.row(it - rd.begin());
  }
  for (std::size_t t = 0; t < d.labels.size(); ++t) {
    ContrastMatrix rows;
    for (Index c : d.colmap[t]) {
      const VectorXd col = Lx.col(c);
      if (col.cwiseAbs().sum() <= 1e-8) continue;
      const VectorXd mapped = map.transpose() * col;
      rows.emplace_back(mapped.data(), mapped.data() + mapped.size());
    }
    out.terms.push_back(d.labels[t]);
    out.L.push_back(std::move(rows));
  }
  return out;
}

std::vector<AnovaRow> anova_type3(const Satterthwaite& satt, const TermContrasts& contrasts) {
  std::vector<AnovaRow> out;
  for (std::size_t t = 0; t < contrasts.terms.size(); ++t) {
    AnovaRow row;
    row.term = contrasts.terms[t];
    const FTest f = satt.test(contrasts.L[t]);
    row.num_df = f.num_df;
    row.den_df = f.den_df;
    row.F = f.F;
    row.p = f.p;
    out.push_back(row);
  }
  return out;
}

std::vector<AnovaRow> anova_type3(const KenwardRoger& kr, const TermContrasts& contrasts) {
  std::vector<AnovaRow> out;
  for (std::size_t t = 0; t < contrasts.terms.size(); ++t) {
    const FTest f = kr.test(contrasts.L[t]);
    out.push_back({contrasts.terms[t], f.num_df, f.den_df, f.F, f.p});
  }
  return out;
}

void add_inference(LinearMixedModel& model, FitResult& result, DdfMethod ddf) {
  result.ddf = ddf;
  result.anova_type3.clear();
  const std::size_t p = model.frame().p();
  if (p == 0) return;
  const TermContrasts tc = type3_contrasts(model.frame());
  if (!tc.unavailable.empty()) result.messages.push_back("type III ANOVA not computed: " + tc.unavailable);
  if (ddf == DdfMethod::None) {
    const auto beta = model.beta();
    const auto vcov = model.vcov();
    for (std::size_t t = 0; t < tc.terms.size(); ++t) {
      const FTest f = wald_f(beta, vcov, tc.L[t]);
      result.anova_type3.push_back({tc.terms[t], f.num_df, NaN, f.F, NaN});
    }
    for (auto& fe : result.fixed) fe.df = fe.p = NaN;
    return;
  }
  if (ddf == DdfMethod::Satterthwaite) {
    const Satterthwaite satt(model);
    if (satt.nonpositive_eigenvalues() > 0)
      result.messages.push_back(
          "the Hessian of the deviance in (theta, sigma) has eigenvalues <= 1e-8 (a boundary or non-converged fit): "
          "Satterthwaite's df use its generalised inverse, as lmerTest does");
    result.anova_type3 = anova_type3(satt, tc);
    for (std::size_t i = 0; i < p && i < result.fixed.size(); ++i) {
      std::vector<double> c(p, 0.0);
      c[i] = 1;
      const TTest t = satt.test(c);
      result.fixed[i].df = t.df;
      result.fixed[i].p = t.p;
    }
    return;
  }
  const KenwardRoger kr(model);
  result.anova_type3 = anova_type3(kr, tc);
  for (std::size_t i = 0; i < p && i < result.fixed.size(); ++i) {
    std::vector<double> c(p, 0.0);
    c[i] = 1;
    const TTest t = kr.test(c);
    result.fixed[i].std_error = t.std_error;
    result.fixed[i].t = t.t;
    result.fixed[i].df = t.df;
    result.fixed[i].p = t.p;
  }
}

DdfMethod parse_ddf_method(const std::string& name) {
  std::string s;
  for (char c : name) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "satterthwaite") return DdfMethod::Satterthwaite;
  if (s == "kenward-roger" || s == "kenward_roger" || s == "kr") return DdfMethod::KenwardRoger;
  if (s == "none" || s == "lme4") return DdfMethod::None;
  throw Error("unknown df method '" + name + "': use satterthwaite, kenward-roger or none");
}

std::string ddf_method_name(DdfMethod ddf) {
  switch (ddf) {
    case DdfMethod::Satterthwaite: return "Satterthwaite";
    case DdfMethod::KenwardRoger: return "Kenward-Roger";
    case DdfMethod::None: return "none";
  }
  return "none";
}

}  // namespace lmm
