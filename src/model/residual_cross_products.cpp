// A_k = Σ over the residual pairs of key k of [Z X y]_a'[Z X y]_b (+ the transpose), one pass over
// the pairs, and the combination A = Σ_k c_k A_k at each evaluation (see residual.h).
#include <Eigen/SparseCore>
#include <vector>

#include "model/residual.h"
#include "util/parallel.h"

namespace lmm::detail {

namespace {

using Triplets = std::vector<Eigen::Triplet<double>>;

struct KeyBlocks {
  std::vector<Mat> diag;                   // per term: q x q·nlev (BlockDiag data), uncoupled terms
  std::vector<std::vector<Triplets>> sp;   // [i][j], j <= i < K: sparse entries (coupled diagonals too)
  std::vector<Mat> xz;                     // per term: (p+1) x q·nlev
  Mat xx;                                  // (p+1) x (p+1)
};

struct Rows {
  const ModelFrame& f;
  const double* y;
  std::size_t n, np;
  void xy(std::size_t i, Eigen::VectorXd& v) const {
    for (std::size_t c = 0; c < np; ++c) v[static_cast<Eigen::Index>(c)] = f.X[c * n + i];
    v[static_cast<Eigen::Index>(np)] = y[i];
  }
  const double* z(std::size_t j, std::size_t i) const { return &f.re[j].z[i * static_cast<std::size_t>(f.re[j].q())]; }
  Eigen::Index level(std::size_t j, std::size_t i) const { return f.re[j].refs[i]; }
};

// Term j's entries of one pair: its diagonal block and its column of [X y]'Z (plain loops: q and
// p + 1 are small, and there is one call per pair and term).
void add_term(const Rows& rows, std::size_t j, bool coupled, std::size_t a, std::size_t b, const double* xa,
              const double* xb, KeyBlocks& kb) {
  const int q = rows.f.re[j].q();
  const auto m = static_cast<Eigen::Index>(rows.np + 1);
  const double *za = rows.z(j, a), *zb = rows.z(j, b);
  const Eigen::Index la = rows.level(j, a), lb = rows.level(j, b);
  double* xz = kb.xz[j].data();
  for (int c = 0; c < q; ++c) {
    double* colb = xz + (lb * q + c) * m;
    for (Eigen::Index r = 0; r < m; ++r) colb[r] += xa[r] * zb[c];
    if (a != b) {
      double* cola = xz + (la * q + c) * m;
      for (Eigen::Index r = 0; r < m; ++r) cola[r] += xb[r] * za[c];
    }
  }
  if (!coupled) {
    double* blk = kb.diag[j].data() + la * q * q;
    for (int c = 0; c < q; ++c)
      for (int r = 0; r < q; ++r) blk[c * q + r] += za[r] * zb[c] + (a != b ? zb[r] * za[c] : 0.0);
    return;
  }
  Triplets& t = kb.sp[j][j];
  for (int c = 0; c < q; ++c)
    for (int r = 0; r < q; ++r) {
      t.emplace_back(la * q + r, lb * q + c, za[r] * zb[c]);
      if (a != b) t.emplace_back(lb * q + c, la * q + r, za[r] * zb[c]);
    }
}

// Z_i'Z_j entries (i > j) of one pair.
void add_cross(const Rows& rows, std::size_t i, std::size_t j, std::size_t a, std::size_t b, KeyBlocks& kb) {
  const int qi = rows.f.re[i].q(), qj = rows.f.re[j].q();
  Triplets& t = kb.sp[i][j];
  auto put = [&](std::size_t u, std::size_t v) {
    const double *zi = rows.z(i, u), *zj = rows.z(j, v);
    for (int c = 0; c < qj; ++c)
      for (int r = 0; r < qi; ++r)
        t.emplace_back(rows.level(i, u) * qi + r, rows.level(j, v) * qj + c, zi[r] * zj[c]);
  };
  put(a, b);
  if (a != b) put(b, a);
}

KeyBlocks empty_key(const ModelFrame& f, const std::vector<bool>& coupled) {
  const std::size_t K = f.re.size();
  const auto m = static_cast<Eigen::Index>(f.p() + 1);
  KeyBlocks kb;
  kb.xx = Mat::Zero(m, m);
  kb.sp.resize(K);
  for (std::size_t j = 0; j < K; ++j) {
    const int q = f.re[j].q();
    const auto cols = q * static_cast<Eigen::Index>(f.re[j].nlevels());
    kb.diag.push_back(coupled[j] ? Mat() : Mat::Zero(q, cols));
    kb.xz.push_back(Mat::Zero(m, cols));
    kb.sp[j].resize(j + 1);
  }
  return kb;
}

Eigen::Index term_size(const ModelFrame& f, std::size_t j) {
  return f.re[j].q() * static_cast<Eigen::Index>(f.re[j].nlevels());
}

// Sparse blocks of one position on the union of the keys' patterns.
std::vector<SpMat> aligned(std::vector<KeyBlocks>& keys, std::size_t i, std::size_t j, Eigen::Index rows,
                           Eigen::Index cols) {
  std::vector<SpMat> S(keys.size());
  SpMat U(rows, cols);
  for (std::size_t k = 0; k < keys.size(); ++k) {
    S[k].resize(rows, cols);
    S[k].setFromTriplets(keys[k].sp[i][j].begin(), keys[k].sp[i][j].end());
    Triplets().swap(keys[k].sp[i][j]);
    U = U + S[k] * 0.0;
  }
  for (auto& s : S) s = SpMat(U + s);
  return S;
}

}  // namespace

std::vector<bool> coupled_terms(const ModelFrame& f, const ResidualCovariance& rc) {
  std::vector<bool> out(f.re.size(), false);
  for (std::size_t j = 0; j < f.re.size(); ++j)
    for (const ResidualPair& p : rc.pairs())
      if (f.re[j].refs[p.a] != f.re[j].refs[p.b]) {
        out[j] = true;
        break;
      }
  return out;
}

std::vector<std::vector<std::vector<Block>>> residual_cross_products(const ModelFrame& f, const double* y,
                                                                     const ResidualCovariance& rc,
                                                                     const std::vector<bool>& coupled) {
  const std::size_t K = f.re.size();
  const Rows rows{f, y, f.n(), f.p()};
  std::vector<KeyBlocks> keys(rc.nkeys(), empty_key(f, coupled));
  const auto m = static_cast<Eigen::Index>(f.p() + 1);
  Eigen::VectorXd xa(m), xb(m);
  for (const ResidualPair& p : rc.pairs()) {
    KeyBlocks& kb = keys[p.key];
    rows.xy(p.a, xa);
    rows.xy(p.b, xb);
    double* xx = kb.xx.data();
    for (Eigen::Index c = 0; c < m; ++c)
      for (Eigen::Index r = 0; r < m; ++r) xx[c * m + r] += xa[r] * xb[c] + (p.a != p.b ? xb[r] * xa[c] : 0.0);
    for (std::size_t j = 0; j < K; ++j) {
      add_term(rows, j, coupled[j], p.a, p.b, xa.data(), xb.data(), kb);
      for (std::size_t i = j + 1; i < K; ++i) add_cross(rows, i, j, p.a, p.b, kb);
    }
  }
  std::vector<std::vector<std::vector<Block>>> out(keys.size());
  for (auto& A : out) {
    A.resize(K + 1);
    for (std::size_t i = 0; i <= K; ++i) A[i].resize(i + 1);
  }
  for (std::size_t j = 0; j < K; ++j) {
    for (std::size_t i = j; i < K; ++i) {
      if (i == j && !coupled[j]) continue;
      std::vector<SpMat> S = aligned(keys, i, j, term_size(f, i), term_size(f, j));
      for (std::size_t k = 0; k < keys.size(); ++k) out[k][i][j] = std::move(S[k]);
    }
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (!coupled[j]) {
        BlockDiag d;
        d.q = f.re[j].q();
        d.nblocks = static_cast<Eigen::Index>(f.re[j].nlevels());
        d.data = std::move(keys[k].diag[j]);
        out[k][j][j] = std::move(d);
      }
      out[k][K][j] = std::move(keys[k].xz[j]);
    }
  }
  for (std::size_t k = 0; k < keys.size(); ++k) out[k][K][K] = std::move(keys[k].xx);
  return out;
}

namespace {

// out = Σ_k c_k in_k over n values: in chunks small enough that out stays in cache while the keys
// are added, on the thread pool (an evaluation of a large model spends a good part of its time here).
void combine_values(const std::vector<const double*>& in, const std::vector<double>& c, double* out, std::size_t n) {
  const int nchunks = chunk_count(n, 8192);
  parallel_for(nchunks, [&](int ch) {
    const std::size_t b = chunk_begin(n, nchunks, ch), e = chunk_begin(n, nchunks, ch + 1);
    const double* i0 = in[0];
    for (std::size_t i = b; i < e; ++i) out[i] = c[0] * i0[i];
    for (std::size_t k = 1; k < in.size(); ++k) {
      const double* ik = in[k];
      const double ck = c[k];
      for (std::size_t i = b; i < e; ++i) out[i] += ck * ik[i];
    }
  });
}

}  // namespace

void combine_cross_products(const std::vector<std::vector<std::vector<Block>>>& Ak, const std::vector<double>& c,
                            std::vector<std::vector<Block>>& A) {
  if (A.size() != Ak[0].size()) A = Ak[0];
  std::vector<const double*> in(Ak.size());
  for (std::size_t i = 0; i < A.size(); ++i)
    for (std::size_t j = 0; j <= i; ++j) {
      Block& t = A[i][j];
      if (t.index() != Ak[0][i][j].index()) t = Ak[0][i][j];
      double* out = nullptr;
      std::size_t n = 0;
      if (auto* d = std::get_if<BlockDiag>(&t)) {
        const auto& d0 = std::get<BlockDiag>(Ak[0][i][j]);
        if (d->data.size() != d0.data.size()) *d = d0;
        for (std::size_t k = 0; k < Ak.size(); ++k) in[k] = std::get<BlockDiag>(Ak[k][i][j]).data.data();
        out = d->data.data();
        n = static_cast<std::size_t>(d->data.size());
      } else if (auto* s = std::get_if<SpMat>(&t)) {
        const SpMat& s0 = std::get<SpMat>(Ak[0][i][j]);
        if (s->nonZeros() != s0.nonZeros()) *s = s0;
        for (std::size_t k = 0; k < Ak.size(); ++k) in[k] = std::get<SpMat>(Ak[k][i][j]).valuePtr();
        out = s->valuePtr();
        n = static_cast<std::size_t>(s->nonZeros());
      } else {
        Mat& m = std::get<Mat>(t);
        const Mat& m0 = std::get<Mat>(Ak[0][i][j]);
        if (m.rows() != m0.rows() || m.cols() != m0.cols()) m = m0;
        for (std::size_t k = 0; k < Ak.size(); ++k) in[k] = std::get<Mat>(Ak[k][i][j]).data();
        out = m.data();
        n = static_cast<std::size_t>(m.size());
      }
      if (n > 0) combine_values(in, c, out, n);
    }
}

}  // namespace lmm::detail
