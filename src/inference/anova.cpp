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
// is what this file uses: no pass over the rows.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "inference/distributions.h"
#include "lmm/error.h"
#include "lmm/inference.h"
#include "model/model_impl.h"

namespace lmm {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

const std::string kIntercept = "(Intercept)";
// A reference level that appears in no column name (treatment contrasts hide it).
const std::string kHiddenReference = std::string("\x01reference");

// A column of a design matrix: the product of numeric variables and level indicators.
struct Monomial {
  std::set<std::string> numerics;
  std::map<std::string, std::string> levels;  // categorical variable -> level
  bool operator<(const Monomial& o) const {
    return std::tie(numerics, levels) < std::tie(o.numerics, o.levels);
  }
  bool operator==(const Monomial& o) const { return numerics == o.numerics && levels == o.levels; }
};

struct ParsedTerm {
  std::string label;
  std::vector<std::string> vars;  // factor labels in the term's order
};

// Splits a column name of term `t` into one piece per variable: "time:grouptreatment" ->
// {time: numeric, group: "treatment"}. Tries a numeric reading of each piece first.
// Levels containing ':' are tried only when `colon_levels` (a second pass), so that
// "time:grouptreatment" is read as the interaction, not as level ":grouptreatment" of `time`.
bool parse_column(const std::string& name, std::size_t pos, const ParsedTerm& t, std::size_t k,
                  std::vector<std::optional<std::string>>& out, bool colon_levels) {
  if (k == t.vars.size()) return pos == name.size();
  const std::string& v = t.vars[k];
  if (name.compare(pos, v.size(), v) != 0) return false;
  const std::size_t after = pos + v.size();
  const bool last = k + 1 == t.vars.size();
  // numeric: the label alone
  if ((last && after == name.size()) || (!last && after < name.size() && name[after] == ':')) {
    out[k] = std::nullopt;
    if (parse_column(name, last ? after : after + 1, t, k + 1, out, colon_levels)) return true;
  }
  // categorical: label + a non-empty level, up to a ':' where the next piece starts
  for (std::size_t end = after + 1; end <= name.size(); ++end) {
    if (last ? end != name.size() : (end == name.size() || name[end] != ':')) continue;
    out[k] = name.substr(after, end - after);
    if (!colon_levels && out[k]->find(':') != std::string::npos) break;
    if (parse_column(name, last ? end : end + 1, t, k + 1, out, colon_levels)) return true;
  }
  return false;
}

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

}  // namespace

TermContrasts type3_contrasts(const ModelFrame& frame) {
  TermContrasts out;
  const auto& names = frame.fixed_names;
  const auto p = static_cast<Index>(names.size());
  const bool intercept = frame.formula.intercept;
  std::vector<ParsedTerm> terms;
  for (const auto& t : frame.formula.fixed) {
    ParsedTerm pt;
    pt.label = t.label();
    for (const auto& e : t.factors) pt.vars.push_back(e.label());
    terms.push_back(std::move(pt));
  }
  const auto nterms = static_cast<int>(terms.size());
  if (p == 0 || nterms == 0) return out;  // y ~ 1: no hypotheses (lmerTest's table is empty)

  // Columns -> (term, monomial).
  std::vector<int> assign(static_cast<std::size_t>(p), -1);
  std::vector<Monomial> cols(static_cast<std::size_t>(p));
  std::map<std::string, bool> is_numeric;
  for (Index j = 0; j < p; ++j) {
    const std::string& nm = names[static_cast<std::size_t>(j)];
    if (intercept && nm == kIntercept) continue;
    for (int pass = 0, t = 0; pass < 2 && assign[static_cast<std::size_t>(j)] < 0; t = (t + 1) % nterms, pass += t == 0) {
      std::vector<std::optional<std::string>> pieces(terms[t].vars.size());
      if (!parse_column(nm, 0, terms[t], 0, pieces, pass == 1)) continue;
      assign[static_cast<std::size_t>(j)] = t;
      Monomial& mo = cols[static_cast<std::size_t>(j)];
      for (std::size_t k = 0; k < pieces.size(); ++k) {
        const std::string& v = terms[t].vars[k];
        if (pieces[k]) {
          mo.levels[v] = *pieces[k];
        } else {
          mo.numerics.insert(v);
        }
        const bool num = !pieces[k].has_value();
        auto [it, fresh] = is_numeric.emplace(v, num);
        if (!fresh && it->second != num) {
          out.unavailable = "cannot tell whether '" + v + "' is numeric or categorical from the column names";
          return out;
        }
      }
    }
    if (assign[static_cast<std::size_t>(j)] < 0) {
      out.unavailable = "column '" + nm + "' matches no term of the formula";
      return out;
    }
  }
  // term -> its columns (lmerTest's term2colX)
  std::vector<std::vector<Index>> colmap(static_cast<std::size_t>(nterms));
  for (Index j = 0; j < p; ++j)
    if (assign[static_cast<std::size_t>(j)] >= 0) colmap[static_cast<std::size_t>(assign[static_cast<std::size_t>(j)])].push_back(j);

  // Type I (Doolittle) hypotheses when there is one column or one term, as lmerTest does.
  if (p <= 1 || nterms <= 1) {
    if (p == 1 && intercept) return out;
    const auto& A = frame.X;
    Eigen::Map<const MatrixXd> X(A.data(), static_cast<Index>(frame.n()), p);
    const MatrixXd XtX = X.transpose() * X;
    const MatrixXd L = p == 1 ? MatrixXd::Ones(1, 1) : doolittle_L(XtX);
    for (int t = 0; t < nterms; ++t) {
      MatrixXd rows(static_cast<Index>(colmap[t].size()), p);
      for (std::size_t i = 0; i < colmap[t].size(); ++i) rows.row(static_cast<Index>(i)) = L.col(colmap[t][i]).transpose();
      out.terms.push_back(terms[t].label);
      out.L.push_back(rows_of(rows));
    }
    return out;
  }

  if (!frame.aliased.empty()) {
    out.unavailable = "the fixed-effect design is rank deficient (aliased columns were dropped)";
    return out;
  }

  // Levels of each categorical variable, and its reference level.
  std::map<std::string, std::set<std::string>> all_levels;
  std::map<std::string, std::vector<std::set<std::string>>> per_term;  // levels seen per term
  for (int t = 0; t < nterms; ++t) {
    std::map<std::string, std::set<std::string>> seen;
    for (Index j : colmap[t])
      for (const auto& [v, l] : cols[static_cast<std::size_t>(j)].levels) seen[v].insert(l);
    for (auto& [v, s] : seen) {
      all_levels[v].insert(s.begin(), s.end());
      per_term[v].push_back(s);
    }
  }
  // R's coding rule (stats' TermCode): a factor in a term is coded by contrasts when the term
  // without it is empty or contained in an earlier term; without an intercept, the first factor of
  // the first term with a factor is coded by indicators.
  auto var_set = [&](int t) { return std::set<std::string>(terms[t].vars.begin(), terms[t].vars.end()); };
  bool override_used = intercept;
  std::map<std::string, bool> contrast_coded;
  for (int t = 0; t < nterms; ++t) {
    const auto vs = var_set(t);
    for (const auto& v : terms[t].vars) {
      if (is_numeric.count(v) && is_numeric[v]) continue;
      std::set<std::string> rest = vs;
      rest.erase(v);
      bool contrasts = rest.empty();
      for (int u = 0; u < t && !contrasts; ++u) {
        const auto us = var_set(u);
        contrasts = std::includes(us.begin(), us.end(), rest.begin(), rest.end());
      }
      if (!override_used) {
        override_used = true;
        contrasts = false;
      }
      if (contrasts) contrast_coded[v] = true;
    }
  }
  std::map<std::string, std::string> reference;  // absent: every level appears in the columns
  for (const auto& [v, lv] : all_levels) {
    if (!contrast_coded.count(v)) continue;
    std::string ref = kHiddenReference;
    for (const auto& s : per_term[v])
      if (s.size() + 1 == lv.size()) {
        for (const auto& l : lv)
          if (!s.count(l)) ref = l;
      }
    reference[v] = ref;
    all_levels[v].insert(ref);
  }

  // Expand a monomial of rdX into X's columns.
  std::map<Monomial, Index> xindex;
  Monomial empty;
  for (Index j = 0; j < p; ++j) {
    if (assign[static_cast<std::size_t>(j)] < 0) {
      xindex[empty] = j;
    } else {
      xindex[cols[static_cast<std::size_t>(j)]] = j;
    }
  }
  bool failed = false;
  std::function<void(const Monomial&, double, VectorXd&)> expand = [&](const Monomial& m, double coef, VectorXd& row) {
    if (failed) return;
    if (auto it = xindex.find(m); it != xindex.end()) {
      row(it->second) += coef;
      return;
    }
    for (const auto& [v, l] : m.levels) {
      auto r = reference.find(v);
      if (r == reference.end() || r->second != l) continue;
      // 1{v = ref} = 1 - Σ_{l' != ref} 1{v = l'}
      Monomial without = m;
      without.levels.erase(v);
      expand(without, coef, row);
      for (const auto& other : all_levels[v]) {
        if (other == l) continue;
        Monomial with = m;
        with.levels[v] = other;
        expand(with, -coef, row);
      }
      return;
    }
    failed = true;
  };

  std::vector<Monomial> rd;  // rdX's columns
  if (intercept) rd.push_back(empty);
  for (int t = 0; t < nterms; ++t) {
    std::vector<Monomial> acc{Monomial{}};
    for (const auto& v : terms[t].vars) {
      std::vector<Monomial> next;
      if (is_numeric[v]) {
        for (auto m : acc) {
          m.numerics.insert(v);
          next.push_back(m);
        }
      } else {
        for (const auto& l : all_levels[v])
          for (auto m : acc) {
            m.levels[v] = l;
            next.push_back(m);
          }
      }
      acc = std::move(next);
    }
    rd.insert(rd.end(), acc.begin(), acc.end());
  }
  MatrixXd L = MatrixXd::Zero(static_cast<Index>(rd.size()), p);
  for (std::size_t r = 0; r < rd.size(); ++r) {
    VectorXd row = VectorXd::Zero(p);
    expand(rd[r], 1.0, row);
    L.row(static_cast<Index>(r)) = row.transpose();
  }
  if (failed) {
    out.unavailable = "the formula is not hierarchical (a term's margins are missing), so type III hypotheses are not formed";
    return out;
  }

  // Orthogonalise each term against the terms containing it, highest order first.
  std::vector<int> order(static_cast<std::size_t>(nterms));
  for (int t = 0; t < nterms; ++t) order[static_cast<std::size_t>(t)] = t;
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return terms[a].vars.size() > terms[b].vars.size(); });
  auto numerics_of = [&](int t) {
    std::set<std::string> s;
    for (const auto& v : terms[t].vars)
      if (is_numeric[v]) s.insert(v);
    return s;
  };
  for (int t : order) {
    const auto vt = var_set(t);
    std::vector<Index> regressors;
    for (int u = 0; u < nterms; ++u) {
      if (u == t) continue;
      const auto vu = var_set(u);
      if (vu.size() > vt.size() && std::includes(vu.begin(), vu.end(), vt.begin(), vt.end()) &&
          numerics_of(u) == numerics_of(t))
        regressors.insert(regressors.end(), colmap[u].begin(), colmap[u].end());
    }
    if (regressors.empty() || colmap[t].empty()) continue;
    MatrixXd R(L.rows(), static_cast<Index>(regressors.size()));
    for (std::size_t k = 0; k < regressors.size(); ++k) R.col(static_cast<Index>(k)) = L.col(regressors[k]);
    MatrixXd Y(L.rows(), static_cast<Index>(colmap[t].size()));
    for (std::size_t k = 0; k < colmap[t].size(); ++k) Y.col(static_cast<Index>(k)) = L.col(colmap[t][k]);
    Eigen::ColPivHouseholderQR<MatrixXd> qr(R);
    MatrixXd res = Y - R * qr.solve(Y);
    zapsmall(res);
    for (std::size_t k = 0; k < colmap[t].size(); ++k) L.col(colmap[t][k]) = res.col(static_cast<Index>(k));
  }

  // Rows of L named as X's columns; a term's hypothesis is its columns, transposed.
  MatrixXd Lx(p, p);
  for (Index j = 0; j < p; ++j) {
    const Monomial& m = assign[static_cast<std::size_t>(j)] < 0 ? empty : cols[static_cast<std::size_t>(j)];
    const auto it = std::find(rd.begin(), rd.end(), m);
    if (it == rd.end()) {
      out.unavailable = "column '" + names[static_cast<std::size_t>(j)] + "' is not a column of its term's design";
      return out;
    }
    Lx.row(j) = L.row(it - rd.begin());
  }
  for (int t = 0; t < nterms; ++t) {
    ContrastMatrix rows;
    for (Index c : colmap[t]) {
      const VectorXd col = Lx.col(c);
      if (col.cwiseAbs().sum() <= 1e-8) continue;
      rows.emplace_back(col.data(), col.data() + col.size());
    }
    out.terms.push_back(terms[t].label);
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
