// R's coding of factors (TermCode, contr.*) and poly()/scale(), each in one place.
#include "formula/coding.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "lmm/error.h"

namespace lmm {

std::string contrasts_name(Contrasts c) {
  switch (c) {
    case Contrasts::Treatment: return "contr.treatment";
    case Contrasts::Sum: return "contr.sum";
    case Contrasts::Helmert: return "contr.helmert";
    case Contrasts::Poly: return "contr.poly";
  }
  return "contr.treatment";
}

Contrasts parse_contrasts(const std::string& name) {
  const std::string s = name.rfind("contr.", 0) == 0 ? name.substr(6) : name;
  if (s == "treatment") return Contrasts::Treatment;
  if (s == "sum") return Contrasts::Sum;
  if (s == "helmert") return Contrasts::Helmert;
  if (s == "poly") return Contrasts::Poly;
  throw Error("unknown contrasts '" + name + "': use treatment, sum, helmert or poly");
}

CodingMatrix FactorCoding::matrix() const { return detail::contrast_matrix(contrasts, levels); }

namespace detail {

std::vector<std::vector<bool>> term_contrast_codes(
    const std::vector<Term>& terms, bool intercept,
    const std::function<bool(const Expr&)>& is_factor,
    const std::function<std::size_t(const Expr&)>& nlevels) {
  std::vector<std::vector<std::string>> labels(terms.size());
  for (std::size_t j = 0; j < terms.size(); ++j)
    for (const Expr& e : terms[j].factors) labels[j].push_back(e.label());
  auto in = [](const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  std::vector<std::vector<bool>> code(terms.size());
  for (std::size_t j = 0; j < terms.size(); ++j) {
    for (std::size_t k = 0; k < labels[j].size(); ++k) {
      bool contrasts = labels[j].size() == 1;
      for (std::size_t t = 0; t < j && !contrasts; ++t) {
        bool subset = true;  // the term without factor k is within term t
        for (std::size_t m = 0; m < labels[j].size() && subset; ++m)
          if (m != k && !in(labels[t], labels[j][m])) subset = false;
        contrasts = subset;
      }
      code[j].push_back(contrasts);
    }
  }
  if (intercept) return code;
  for (std::size_t j = 0; j < terms.size(); ++j)
    for (std::size_t k = 0; k < terms[j].factors.size(); ++k) {
      const Expr& e = terms[j].factors[k];
      if (is_factor(e) && nlevels(e) > 1) {
        code[j][k] = false;
        return code;
      }
    }
  return code;
}

namespace {

// contr.poly(n): orthonormal polynomials in the scores 1..n (Gram-Schmidt of the centred powers,
// which is R's QR with the sign that makes each polynomial's leading coefficient positive).
void poly_contrasts(CodingMatrix& m) {
  const std::size_t n = m.levels;
  const double mean = (static_cast<double>(n) + 1) / 2;
  std::vector<std::vector<double>> q;
  q.push_back(std::vector<double>(n, 1.0 / std::sqrt(static_cast<double>(n))));
  for (std::size_t d = 1; d < n; ++d) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::pow(static_cast<double>(i + 1) - mean, static_cast<double>(d));
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& b : q) {
        double dot = 0;
        for (std::size_t i = 0; i < n; ++i) dot += b[i] * v[i];
        for (std::size_t i = 0; i < n; ++i) v[i] -= dot * b[i];
      }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    for (double& x : v) x /= norm;
    q.push_back(v);
    m.values.insert(m.values.end(), v.begin(), v.end());
    static const char* const named[] = {".L", ".Q", ".C"};
    std::string suffix = d <= 3 ? std::string(named[d - 1]) : std::string("^");
    if (d > 3) suffix += std::to_string(d);
    m.suffixes.push_back(std::move(suffix));
  }
}

}  // namespace

CodingMatrix contrast_matrix(Contrasts c, const std::vector<std::string>& levels) {
  CodingMatrix m;
  m.levels = levels.size();
  m.columns = m.levels > 0 ? m.levels - 1 : 0;
  const std::size_t n = m.levels;
  if (c == Contrasts::Poly) {
    poly_contrasts(m);
    return m;
  }
  m.values.assign(n * m.columns, 0.0);
  for (std::size_t k = 0; k < m.columns; ++k) {
    auto at = [&](std::size_t level) -> double& { return m.values[k * n + level]; };
    if (c == Contrasts::Treatment) {
      at(k + 1) = 1;
      m.suffixes.push_back(levels[k + 1]);
      continue;
    }
    if (c == Contrasts::Sum) {
      at(k) = 1;
      at(n - 1) = -1;
    } else {  // Helmert: column k contrasts level k + 1 with the mean of the levels before it
      for (std::size_t l = 0; l <= k; ++l) at(l) = -1;
      at(k + 1) = static_cast<double>(k + 1);
    }
    m.suffixes.push_back(std::to_string(k + 1));
  }
  return m;
}

TransformCoding fit_poly(const std::vector<double>& x, int degree, const std::string& label) {
  std::vector<double> u(x);
  std::sort(u.begin(), u.end());
  const auto distinct = static_cast<int>(std::unique(u.begin(), u.end()) - u.begin());
  if (degree >= distinct)
    throw Error("'" + label + "': the degree must be less than the number of distinct values (" +
                std::to_string(distinct) + ")");
  const std::size_t n = x.size();
  double xbar = 0;
  for (double v : x) xbar += v;
  xbar /= static_cast<double>(n);
  // Stieltjes' procedure on the centred values: Z_{k+1} = (x - a_k) Z_k - (n_k / n_{k-1}) Z_{k-1}.
  TransformCoding c;
  c.expr = label;
  c.norm2 = {1.0};
  std::vector<double> prev(n, 0.0), cur(n, 1.0);
  for (int k = 0; k <= degree; ++k) {
    double nn = 0, xz = 0;
    for (std::size_t i = 0; i < n; ++i) {
      nn += cur[i] * cur[i];
      xz += (x[i] - xbar) * cur[i] * cur[i];
    }
    c.norm2.push_back(nn);
    if (k == degree) break;
    const double a = xz / nn;
    c.alpha.push_back(a + xbar);
    const double ratio = nn / c.norm2[c.norm2.size() - 2];
    for (std::size_t i = 0; i < n; ++i) {
      const double next = (x[i] - xbar - a) * cur[i] - (k > 0 ? ratio * prev[i] : 0.0);
      prev[i] = cur[i];
      cur[i] = next;
    }
  }
  return c;
}

std::vector<std::vector<double>> eval_poly(const std::vector<double>& x, const TransformCoding& c) {
  const std::size_t degree = c.alpha.size(), n = x.size();
  std::vector<std::vector<double>> z(degree + 1, std::vector<double>(n, 1.0));
  for (std::size_t i = 0; i < n && degree >= 1; ++i) z[1][i] = x[i] - c.alpha[0];
  for (std::size_t d = 2; d <= degree; ++d)
    for (std::size_t i = 0; i < n; ++i)
      z[d][i] = (x[i] - c.alpha[d - 1]) * z[d - 1][i] - (c.norm2[d] / c.norm2[d - 1]) * z[d - 2][i];
  std::vector<std::vector<double>> out;
  for (std::size_t d = 1; d <= degree; ++d) {
    const double s = std::sqrt(c.norm2[d + 1]);
    for (double& v : z[d]) v /= s;
    out.push_back(std::move(z[d]));
  }
  return out;
}

std::vector<std::vector<double>> raw_poly(const std::vector<double>& x, int degree) {
  std::vector<std::vector<double>> out;
  for (int d = 1; d <= degree; ++d) {
    std::vector<double> v(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) v[i] = std::pow(x[i], static_cast<double>(d));
    out.push_back(std::move(v));
  }
  return out;
}

TransformCoding fit_scale(const std::vector<double>& x, const std::string& label) {
  TransformCoding c;
  c.expr = label;
  const double n = static_cast<double>(x.size());
  double mean = 0;
  for (double v : x) mean += v;
  mean /= n;
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  c.center = mean;
  c.scale = x.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  if (!(c.scale > 0))
    throw Error("'" + label + "': the variable has no spread (standard deviation 0), so it cannot be scaled");
  return c;
}

}  // namespace detail
}  // namespace lmm
