#include "linalg/blocks.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "linalg/lapack.h"
#include "lmm/parallel.h"
#include "util/parallel.h"

#ifdef LMM_HAVE_OPENBLAS
#include <dlfcn.h>
#endif

namespace lmm::detail {

namespace {

#ifdef LMM_HAVE_OPENBLAS
// LAPACK's Cholesky factorisation and the inverses from it (Fortran calling convention: the
// trailing arguments are the lengths of the `uplo` and `diag` strings), and OpenBLAS's thread count,
// from OpenBLAS opened at the first block that needs it rather than linked. Loading OpenBLAS means
// resolving its 16,000 symbol relocations (its tables of kernels for every CPU): 10 ms of CPU that
// every start of lmm paid, twice with the restart of cli/main.cpp, also `lmm --version` and the
// fits without a block of 256 rows; now a fit that uses it pays once. Its thread settings still
// come from the environment (OPENBLAS_THREAD_TIMEOUT, set by cli/main.cpp), read when it is opened.
// Not found at run time: the blocks are factored by Eigen, as in a build without OpenBLAS.
struct OpenBlas {
  void (*dpotrf)(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t uplo_len) = nullptr;
  void (*dpotri)(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t uplo_len) = nullptr;
  void (*dtrtri)(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info,
                 std::size_t uplo_len, std::size_t diag_len) = nullptr;
  // dlauum (L'L in place of a lower-triangular L): dpotri is dtrtri and then dlauum, so (L L')⁻¹
  // from an L⁻¹ already formed is this alone. Optional: without it that L⁻¹ is not reused.
  void (*dlauum)(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t uplo_len) = nullptr;
  void (*set_num_threads)(int num_threads) = nullptr;
  int (*get_num_threads)() = nullptr;
  bool ok = false;
};

const OpenBlas& openblas() {
  static const OpenBlas lib = [] {
    OpenBlas b;
    void* h = dlopen(LMM_OPENBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) return b;
    const auto sym = [h](auto& f, const char* name) { f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(h, name)); };
    sym(b.dpotrf, "dpotrf_");
    sym(b.dpotri, "dpotri_");
    sym(b.dtrtri, "dtrtri_");
    sym(b.dlauum, "dlauum_");
    sym(b.set_num_threads, "openblas_set_num_threads");
    sym(b.get_num_threads, "openblas_get_num_threads");
    b.ok = b.dpotrf && b.dpotri && b.dtrtri && b.set_num_threads && b.get_num_threads;
    return b;
  }();
  return lib;
}
#endif

[[noreturn]] void no_kernel(const char* what, const Block& a, const Block& b) {
  throw std::logic_error(std::string("lmm internal error: no kernel for ") + what + " with block types " +
                         std::to_string(a.index()) + " and " + std::to_string(b.index()));
}

}  // namespace

// M = M Λ for Λ = I ⊗ lambda (block columns of width q).
void right_mult_lambda(Mat& M, const Mat& lambda) {
  const Eigen::Index q = lambda.rows();
  if (q == 1) {
    M *= lambda(0, 0);
    return;
  }
  const Eigen::Index nb = M.cols() / q;
  Mat tmp(M.rows(), q);
  for (Eigen::Index b = 0; b < nb; ++b) {
    tmp.noalias() = M.middleCols(b * q, q) * lambda.triangularView<Eigen::Lower>();
    M.middleCols(b * q, q) = tmp;
  }
}

// M = Λ' M.
void left_mult_lambda_t(Mat& M, const Mat& lambda) {
  const Eigen::Index q = lambda.rows();
  if (q == 1) {
    M *= lambda(0, 0);
    return;
  }
  const Eigen::Index nb = M.rows() / q;
  Mat tmp(q, M.cols());
  for (Eigen::Index b = 0; b < nb; ++b) {
    tmp.noalias() = lambda.transpose().triangularView<Eigen::Upper>() * M.middleRows(b * q, q);
    M.middleRows(b * q, q) = tmp;
  }
}

namespace {

// Subtracts a dense symmetric product into a block-diagonal target (only the diagonal blocks;
// the symbolic analysis guarantees the rest is structurally zero).
void subtract_into_blockdiag(BlockDiag& T, const Mat& P) {
  const int q = T.q;
  for (Eigen::Index b = 0; b < T.nblocks; ++b) T.block(b) -= P.block(b * q, b * q, q, q);
}

// Dense target: T = Λ_i' T Λ_j (+ I).
void scale_dense(Mat& T, const Mat& lambda_i, const Mat& lambda_j, bool add_identity) {
  if (lambda_j.size()) right_mult_lambda(T, lambda_j);
  if (lambda_i.size()) left_mult_lambda_t(T, lambda_i);
  if (add_identity) T.diagonal().array() += 1.0;
}

bool same_pattern(const SpMat& a, const SpMat& b) {
  if (!a.isCompressed() || !b.isCompressed() || a.rows() != b.rows() || a.cols() != b.cols() ||
      a.nonZeros() != b.nonZeros())
    return false;
  return std::equal(a.outerIndexPtr(), a.outerIndexPtr() + a.outerSize() + 1, b.outerIndexPtr()) &&
         std::equal(a.innerIndexPtr(), a.innerIndexPtr() + a.nonZeros(), b.innerIndexPtr());
}

}  // namespace

bool DowndatePlan::matches(const SpMat& s) const {
  const auto nnz = static_cast<std::size_t>(s.nonZeros());
  if (s.rows() != rows || outer.size() != static_cast<std::size_t>(s.outerSize()) + 1 ||
      !std::equal(outer.begin(), outer.end(), s.outerIndexPtr()))
    return false;
  const int* inner = s.innerIndexPtr();
  if (!index16.empty()) return index16.size() == nnz && std::equal(index16.begin(), index16.end(), inner);
  return index32.size() == nnz && std::equal(index32.begin(), index32.end(), inner);
}

namespace {

// S's row lists for sub_outer_lower's large path (S compressed): for each row j, its entries in
// increasing column order (start[j] .. start[j + 1]), each with its column and its position in S; and
// chunks of T's columns with about equal work.
DowndatePlan make_plan(const SpMat& s) {
  const int* outer = s.outerIndexPtr();
  const int* inner = s.innerIndexPtr();
  const Eigen::Index m = s.rows(), ncols = s.outerSize();
  const auto nnz = static_cast<std::size_t>(outer[ncols]);
  DowndatePlan p;
  p.rows = m;
  p.outer.assign(outer, outer + ncols + 1);
  if (m <= 65536) {
    p.index16.assign(inner, inner + nnz);
  } else {
    p.index32.assign(inner, inner + nnz);
  }
  p.start.assign(static_cast<std::size_t>(m) + 1, 0);
  for (std::size_t k = 0; k < nnz; ++k) ++p.start[static_cast<std::size_t>(inner[k]) + 1];
  for (Eigen::Index j = 0; j < m; ++j) p.start[j + 1] += p.start[j];
  p.pos.resize(nnz);
  p.col.resize(nnz);
  // Prefix sums of the work per column of T: the updates of each entry, and a fixed cost for each.
  std::vector<double> work(static_cast<std::size_t>(m) + 1, 0.0);
  std::vector<int> next(p.start.begin(), p.start.end() - 1);
  for (Eigen::Index c = 0; c < ncols; ++c)
    for (int k = outer[c]; k < outer[c + 1]; ++k) {
      const auto at = static_cast<std::size_t>(next[static_cast<std::size_t>(inner[k])]++);
      p.pos[at] = k;
      p.col[at] = static_cast<int>(c);
      work[static_cast<std::size_t>(inner[k]) + 1] += static_cast<double>(outer[c + 1] - k) + 8.0;
    }
  for (Eigen::Index j = 0; j < m; ++j) work[j + 1] += work[j];
  const int nchunks = chunk_count(static_cast<std::size_t>(m), 16);
  p.bound.assign(static_cast<std::size_t>(nchunks) + 1, m);
  p.bound[0] = 0;
  for (int ch = 1; ch < nchunks; ++ch) {
    const auto at = std::lower_bound(work.begin(), work.end(), work.back() * ch / nchunks) - work.begin();
    p.bound[ch] = std::max(p.bound[ch - 1], static_cast<Eigen::Index>(at));
  }
  return p;
}

// What one column of T reads: S's values and column ends, which columns hold one value
// throughout, the plan, and the values of the plan's entries [e0, ...) in its order.
struct ColumnSource {
  const DowndatePlan& plan;
  const int* outer;
  const double* val;
  const std::vector<char>& uniform;
  const double* value;  // value[e - e0] = val[plan.pos[e]]
  int e0;
};

// Column j of T, rows >= j: col -= S(:, c) S(j, c) for every column c of S with an entry in row j, in
// increasing c. A column whose values are all v subtracts v·v at its rows, reading only their
// indices (`index`: S's row indices, 16 bits wide where T has at most 65,536 rows).
template <class RowIndex>
void sub_outer_column(double* col, const ColumnSource& src, Eigen::Index j, const RowIndex* index) {
  const DowndatePlan& p = src.plan;
  const int e1 = p.start[static_cast<std::size_t>(j) + 1];
  constexpr int kAhead = 8;  // entries ahead whose indices are prefetched: each starts a new list
  for (int e = p.start[static_cast<std::size_t>(j)]; e < e1; ++e) {
    const auto eu = static_cast<std::size_t>(e);
    if (e + kAhead < e1) __builtin_prefetch(index + p.pos[eu + kAhead]);
    const double vb = src.value[e - src.e0];
    const int c = p.col[eu];
    const int ke = src.outer[c + 1];
    int ka = p.pos[eu];
    if (src.uniform[static_cast<std::size_t>(c)]) {
      const double w = vb * vb;  // = val[ka] * vb for every ka of the column
      for (; ka < ke; ++ka) col[index[ka]] -= w;
    } else {
      for (; ka < ke; ++ka) col[index[ka]] -= src.val[ka] * vb;
    }
  }
}

// Whether each column of S holds one value throughout.
std::vector<char> uniform_columns(const SpMat& s) {
  const int* outer = s.outerIndexPtr();
  const double* val = s.valuePtr();
  const auto ncols = static_cast<std::size_t>(s.outerSize());
  std::vector<char> uniform(ncols);
  const int nchunks = chunk_count(ncols, 4096);
  parallel_for(nchunks, [&](int ch) {
    for (std::size_t c = chunk_begin(ncols, nchunks, ch); c < chunk_begin(ncols, nchunks, ch + 1); ++c) {
      const double* b = val + outer[c];
      uniform[c] = std::all_of(b, val + outer[c + 1], [&](double v) { return v == *b; });
    }
  });
  return uniform;
}

// T -= S S' on T's lower triangle (all a dense diagonal block's Cholesky reads): Σ_c nnz(c)²/2
// multiply-adds and no temporary of T's size.
//
// A large T (the items' block of a ratings data set: 10,000 x 10,000, 800 MB, downdated by 100,000
// users' columns holding 10 million entries) is updated one column at a time, so that the scattered
// updates hit a column in cache; each column j takes, for every column c of S with an entry in row j,
// the entries of c from row j on (S's row lists: `plan`, made here when it is empty or was made for
// another pattern, and kept by the caller for the next evaluation). Those reads of S dominate the
// time (memory bandwidth), so where all of a column's values are equal (an intercept with one
// observation per pair of levels: every value of A's block is 1) only the row indices are read, 2
// bytes each for up to 65,536 rows. Each T(a, b) receives the columns of S in increasing order, as
// the plain scatter does, so the result does not depend on the number of threads; T's columns are
// split in chunks of about equal work, run in parallel.
void sub_outer_lower(Mat& T, const SpMat& S, DowndatePlan* plan) {
  SpMat tmp;
  const SpMat* s = &S;
  if (!S.isCompressed()) {
    tmp = S;
    tmp.makeCompressed();
    s = &tmp;
  }
  const int* outer = s->outerIndexPtr();
  const int* inner = s->innerIndexPtr();  // ascending within a column
  const double* val = s->valuePtr();
  const Eigen::Index ld = T.rows();
  constexpr Eigen::Index kColumnsMinRows = 1024;
  if (ld < kColumnsMinRows) {
    for (Eigen::Index c = 0; c < s->outerSize(); ++c)
      for (int kb = outer[c]; kb < outer[c + 1]; ++kb) {
        const double vb = val[kb];
        double* col = T.data() + static_cast<Eigen::Index>(inner[kb]) * ld;
        for (int ka = kb; ka < outer[c + 1]; ++ka) col[inner[ka]] -= val[ka] * vb;
      }
    return;
  }
  DowndatePlan local;
  DowndatePlan& p = plan ? *plan : local;
  if (!p.matches(*s)) p = make_plan(*s);
  const std::vector<char> uniform = uniform_columns(*s);
  const int nchunks = static_cast<int>(p.bound.size()) - 1;
  parallel_for(nchunks, [&](int ch) {
    const Eigen::Index j0 = p.bound[static_cast<std::size_t>(ch)], j1 = p.bound[static_cast<std::size_t>(ch) + 1];
    const int e0 = p.start[static_cast<std::size_t>(j0)], e1 = p.start[static_cast<std::size_t>(j1)];
    std::vector<double> value(static_cast<std::size_t>(e1 - e0));
    for (int e = e0; e < e1; ++e) value[static_cast<std::size_t>(e - e0)] = val[p.pos[static_cast<std::size_t>(e)]];
    const ColumnSource src{p, outer, val, uniform, value.data(), e0};
    for (Eigen::Index j = j0; j < j1; ++j) {
      double* col = T.data() + j * ld;
      if (p.index16.empty()) {
        sub_outer_column(col, src, j, p.index32.data());
      } else {
        sub_outer_column(col, src, j, p.index16.data());
      }
    }
  });
}

// The same into a block-diagonal target: only pairs of rows in one q x q block (the symbolic
// analysis guarantees the rest of S S' cancels out over the full update).
void sub_outer_blockdiag(BlockDiag& T, const SpMat& S) {
  SpMat tmp;
  const SpMat* s = &S;
  if (!S.isCompressed()) {
    tmp = S;
    tmp.makeCompressed();
    s = &tmp;
  }
  const int q = T.q;
  const int* outer = s->outerIndexPtr();
  const int* inner = s->innerIndexPtr();
  const double* val = s->valuePtr();
  for (Eigen::Index c = 0; c < s->outerSize(); ++c)
    for (int kb = outer[c]; kb < outer[c + 1]; ++kb)
      for (int ka = outer[c]; ka < outer[c + 1]; ++ka) {
        const int ra = inner[ka], rb = inner[kb];
        if (ra / q != rb / q) continue;
        T.data(ra % q, rb) -= val[ka] * val[kb];
      }
}

#ifdef LMM_HAVE_OPENBLAS
// Runs call(n) (a LAPACK routine on an n x n block) on OpenBLAS with lmm's thread count; false,
// without calling it, for a block below 256 rows (there Eigen is as fast and a call costs more) or
// when OpenBLAS is busy. OpenBLAS's thread count is one setting for the whole process, shared with
// numpy in Python: one fit at a time uses it, sets lmm's own count for the call and puts the
// caller's back after; fits running at the same time on other threads (bootstrap replicates) use
// Eigen instead.
template <class Call>
bool lapack_call(Eigen::Index rows, Call call) {
  constexpr Eigen::Index kLapackMinSize = 256;
  static std::mutex blas;
  std::unique_lock<std::mutex> lock(blas, std::try_to_lock);
  if (!lock.owns_lock() || rows < kLapackMinSize || rows > INT_MAX || !openblas().ok) return false;
  const int n = static_cast<int>(rows);
  // One thread below 1,024 rows, where a second one costs more than it brings. InstEval's 1,142
  // rows: on a loaded machine 0.042 s a factorisation on one thread, 0.055 s on two; on an idle one
  // the fit's 50 evaluations took 1.47-1.76 s on two threads against 1.80-1.92 s on one (three
  // runs each, alternating).
  const OpenBlas& blas_lib = openblas();
  const int before = blas_lib.get_num_threads();
  const int want = n >= 1024 ? num_threads() : 1;
  if (want != before) blas_lib.set_num_threads(want);
  call(n);
  if (want != before) blas_lib.set_num_threads(before);
  return true;
}
#endif

// In-place lower Cholesky factor of a dense block (the filled-in block of a crossed design, up to
// 10,000 x 10,000 and more; factored at every evaluation). Large blocks go to OpenBLAS's dpotrf
// where the build has it: blocked, AVX2/FMA kernels chosen at run time, and multi-threaded, where
// Eigen's LLT runs on one core (bench/cholesky_kernels.cpp; docs/crossed.md has the figures).
bool dense_cholesky(Mat& m) {
#ifdef LMM_HAVE_OPENBLAS
  int info = 0;
  if (lapack_call(m.rows(), [&](int n) { openblas().dpotrf("L", &n, m.data(), &n, &info, 1); })) {
    if (info != 0) return false;
    m.triangularView<Eigen::StrictlyUpper>().setZero();
    return true;
  }
#endif
  Eigen::LLT<Eigen::Ref<Mat>> llt(m);
  if (llt.info() != Eigen::Success) return false;
  m.triangularView<Eigen::StrictlyUpper>().setZero();
  return true;
}

}  // namespace

bool lapack_inverse_from_factor(Mat& m) {
#ifdef LMM_HAVE_OPENBLAS
  int info = 0;
  // A zero on the factor's diagonal: dtrtri reports it before it writes anything, and Eigen's
  // inverse gives what it gave before (infinities).
  if (lapack_call(m.rows(), [&](int n) { openblas().dpotri("L", &n, m.data(), &n, &info, 1); })) return info == 0;
#else
  (void)m;
#endif
  return false;
}

bool lapack_lower_gram(Mat& m) {
#ifdef LMM_HAVE_OPENBLAS
  if (!openblas().dlauum) return false;
  int info = 0;
  if (lapack_call(m.rows(), [&](int n) { openblas().dlauum("L", &n, m.data(), &n, &info, 1); })) return info == 0;
#else
  (void)m;
#endif
  return false;
}

bool lapack_lower_inverse(Mat& m) {
#ifdef LMM_HAVE_OPENBLAS
  int info = 0;
  if (lapack_call(m.rows(), [&](int n) { openblas().dtrtri("L", "N", &n, m.data(), &n, &info, 1, 1); })) return info == 0;
#else
  (void)m;
#endif
  return false;
}

Eigen::Index rows(const Block& b) {
  if (auto* d = std::get_if<BlockDiag>(&b)) return d->size();
  if (auto* c = std::get_if<SparseChol>(&b)) return c->size();
  if (auto* s = std::get_if<SpMat>(&b)) return s->rows();
  return std::get<Mat>(b).rows();
}

Eigen::Index cols(const Block& b) {
  if (auto* d = std::get_if<BlockDiag>(&b)) return d->size();
  if (auto* c = std::get_if<SparseChol>(&b)) return c->size();
  if (auto* s = std::get_if<SpMat>(&b)) return s->cols();
  return std::get<Mat>(b).cols();
}

Mat to_dense(const Block& b) {
  if (auto* d = std::get_if<BlockDiag>(&b)) {
    Mat M = Mat::Zero(d->size(), d->size());
    for (Eigen::Index k = 0; k < d->nblocks; ++k) M.block(k * d->q, k * d->q, d->q, d->q) = d->block(k);
    return M;
  }
  if (auto* s = std::get_if<SpMat>(&b)) return Mat(*s);
  if (auto* c = std::get_if<SparseChol>(&b)) {
    if (!c->analyzed) return Mat(c->M);
    // The factor P'L̂.
    Mat Lh = Mat(c->llt->matrixL().nestedExpression()).triangularView<Eigen::Lower>();
    return c->llt->permutationPinv() * Lh;
  }
  return std::get<Mat>(b);
}

double& sparse_fill_limit() {
  static double limit = 0.1;
  return limit;
}

Eigen::Index& sparse_min_size() {
  static Eigen::Index size = 300;
  return size;
}

bool sparse_factor_pays(const SpMat& fill, int q, Eigen::Index nlevels) {
  const Eigen::Index m = static_cast<Eigen::Index>(q) * nlevels;
  if (m < sparse_min_size()) return false;
  // The full pattern: the q x q diagonal blocks and the fill, with values that make it diagonally
  // dominant, so that the trial factorisation succeeds and counts the factor's entries.
  SpMat M = fill + kron_identity(Mat::Ones(q, q), nlevels);
  // The factor holds at least the lower triangle of M: a block already denser than the limit
  // needs no trial factorisation (a crossed design's fill is often nearly dense).
  const double dense = 0.5 * static_cast<double>(m) * static_cast<double>(m + 1);
  if (0.5 * static_cast<double>(M.nonZeros() + m) > sparse_fill_limit() * dense) return false;
  for (Eigen::Index c = 0; c < M.outerSize(); ++c)
    for (SpMat::InnerIterator it(M, c); it; ++it) it.valueRef() = it.row() == it.col() ? static_cast<double>(m) : 1.0;
  SparseChol::Solver llt;
  // Factorise, not only analyse: matrixL() is defined once a factorisation succeeded (Eigen
  // asserts it; the sanitizer build runs without NDEBUG).
  llt.compute(M);
  if (llt.info() != Eigen::Success) return false;
  const double nnz = static_cast<double>(llt.matrixL().nestedExpression().nonZeros());
  return nnz <= sparse_fill_limit() * dense;
}

SpMat kron_identity(const Mat& lambda, Eigen::Index nlevels) {
  const Eigen::Index q = lambda.rows();
  SpMat L(q * nlevels, q * nlevels);
  std::vector<Eigen::Triplet<double>> t;
  t.reserve(static_cast<std::size_t>(nlevels * q * (q + 1) / 2));
  for (Eigen::Index b = 0; b < nlevels; ++b)
    for (Eigen::Index j = 0; j < q; ++j)
      for (Eigen::Index i = j; i < q; ++i) t.emplace_back(b * q + i, b * q + j, lambda(i, j));
  L.setFromTriplets(t.begin(), t.end());
  return L;
}

void scale(Block& target, const Block& source, const Mat& lambda_i, const Mat& lambda_j,
           bool add_identity) {
  // Block-diagonal source into block-diagonal target: λ' B λ per block.
  if (auto* src = std::get_if<BlockDiag>(&source)) {
    if (auto* t = std::get_if<BlockDiag>(&target)) {
      t->q = src->q;
      t->nblocks = src->nblocks;
      t->data.resize(src->data.rows(), src->data.cols());
      const int q = src->q;
      if (q == 1) {
        const double l2 = lambda_i(0, 0) * lambda_j(0, 0);
        t->data = src->data * l2;
        if (add_identity) t->data.array() += 1.0;
        return;
      }
      for (Eigen::Index b = 0; b < src->nblocks; ++b) {
        auto tb = t->block(b);
        tb.noalias() = lambda_i.transpose().triangularView<Eigen::Upper>() *
                       (src->block(b) * lambda_j.triangularView<Eigen::Lower>());
        if (add_identity) tb.diagonal().array() += 1.0;
      }
      return;
    }
    if (auto* t = std::get_if<SparseChol>(&target)) {
      // λ'Bλ (+ I) per block, as a sparse matrix whose pattern (the full q x q blocks) is the
      // same at every θ; the downdates add the fill, also the same at every θ.
      const int q = src->q;
      std::vector<Eigen::Triplet<double>> trip;
      trip.reserve(static_cast<std::size_t>(src->nblocks * q * q));
      Mat tb(q, q);
      for (Eigen::Index b = 0; b < src->nblocks; ++b) {
        tb.noalias() = lambda_i.transpose().triangularView<Eigen::Upper>() *
                       (src->block(b) * lambda_j.triangularView<Eigen::Lower>());
        if (add_identity) tb.diagonal().array() += 1.0;
        for (int c = 0; c < q; ++c)
          for (int r = 0; r < q; ++r) trip.emplace_back(b * q + r, b * q + c, tb(r, c));
      }
      t->M.resize(src->size(), src->size());
      t->M.setFromTriplets(trip.begin(), trip.end());
      return;
    }
    if (auto* t = std::get_if<Mat>(&target)) {
      // Dense target (a diagonal block that fills in): λ'Bλ on the diagonal blocks, zero elsewhere,
      // written into the target's storage rather than a new dense copy.
      const int q = src->q;
      const Eigen::Index n = src->size();
      if (t->rows() != n || t->cols() != n) t->resize(n, n);
      t->setZero();
      for (Eigen::Index b = 0; b < src->nblocks; ++b) {
        auto tb = t->block(b * q, b * q, q, q);
        tb.noalias() = lambda_i.transpose().triangularView<Eigen::Upper>() *
                       (src->block(b) * lambda_j.triangularView<Eigen::Lower>());
      }
      if (add_identity) t->diagonal().array() += 1.0;
      return;
    }
    no_kernel("scale", target, source);
  }
  if (auto* src = std::get_if<SpMat>(&source)) {
    if (auto* t = std::get_if<SpMat>(&target)) {
      const bool scalar_i = lambda_i.size() == 0 || lambda_i.rows() == 1;
      const bool scalar_j = lambda_j.size() == 0 || lambda_j.rows() == 1;
      if (scalar_i && scalar_j) {
        double s = (lambda_i.size() ? lambda_i(0, 0) : 1.0) * (lambda_j.size() ? lambda_j(0, 0) : 1.0);
        if (!add_identity && same_pattern(*t, *src)) {
          // The usual case (the pattern of L[i][0] is that of A[i][0]): scale the values in place.
          const double* a = src->valuePtr();
          double* v = t->valuePtr();
          const Eigen::Index nnz = src->nonZeros();  // a call, not re-read per entry: v may alias it
          for (Eigen::Index k = 0; k < nnz; ++k) v[k] = a[k] * s;
          return;
        }
        *t = *src * s;
      } else {
        SpMat tmp = *src;
        if (lambda_j.size()) tmp = tmp * kron_identity(lambda_j, src->cols() / lambda_j.rows());
        if (lambda_i.size()) tmp = SpMat(kron_identity(lambda_i, src->rows() / lambda_i.rows()).transpose()) * tmp;
        *t = std::move(tmp);
      }
      if (add_identity) {
        SpMat I(t->rows(), t->cols());
        I.setIdentity();
        *t += I;
      }
      return;
    }
  }
  // Any source into a dense target.
  auto* t = std::get_if<Mat>(&target);
  if (!t) no_kernel("scale", target, source);
  *t = to_dense(source);
  scale_dense(*t, lambda_i, lambda_j, add_identity);
}

void rank_downdate(Block& target, const Block& S, DowndatePlan* plan) {
  if (auto* t = std::get_if<Mat>(&target)) {
    if (auto* d = std::get_if<Mat>(&S)) {
      t->selfadjointView<Eigen::Lower>().rankUpdate(*d, -1.0);
      return;
    }
    if (auto* s = std::get_if<SpMat>(&S)) {
      sub_outer_lower(*t, *s, plan);
      return;
    }
    if (auto* bd = std::get_if<BlockDiag>(&S)) {
      Mat D = to_dense(*bd);
      t->selfadjointView<Eigen::Lower>().rankUpdate(D, -1.0);
      return;
    }
  }
  if (auto* t = std::get_if<BlockDiag>(&target)) {
    if (auto* s = std::get_if<SpMat>(&S)) {
      sub_outer_blockdiag(*t, *s);
      return;
    }
    if (auto* d = std::get_if<Mat>(&S)) {
      Mat P = *d * d->transpose();
      subtract_into_blockdiag(*t, P);
      return;
    }
  }
  if (auto* t = std::get_if<SparseChol>(&target)) {
    if (auto* s = std::get_if<SpMat>(&S)) {
      t->M = t->M - SpMat(*s * SpMat(s->transpose()));
      return;
    }
  }
  no_kernel("rank_downdate", target, S);
}

namespace {

// T -= A S' for a dense A of R rows: each stored S(b, c) subtracts S(b, c) times A's column c from
// T's column b. The [X y] rows of the factor (R = p + 1, often 2 or 3) are downdated this way by
// every term's block at every evaluation: 100,000 stored entries for the crossed 1,000 x 500 design.
// R known at compile time keeps A's column in registers and the R updates unrolled, where Eigen's
// column expressions of run-time size cost several times the arithmetic. Every T(r, b) receives
// the same products in the same order (c, then b, ascending) as before, so the result is the same
// to the bit.
template <int R>
void sub_fixed_rows(double* t, Eigen::Index ldt, const double* a, Eigen::Index lda, const SpMat& s) {
  const int* outer = s.outerIndexPtr();
  const int* inner = s.innerIndexPtr();
  const double* val = s.valuePtr();
  for (Eigen::Index c = 0; c < s.outerSize(); ++c) {
    double ac[R];
    for (int r = 0; r < R; ++r) ac[r] = a[c * lda + r];
    for (int k = outer[c]; k < outer[c + 1]; ++k) {
      double* tc = t + static_cast<Eigen::Index>(inner[k]) * ldt;
      const double v = val[k];
      for (int r = 0; r < R; ++r) tc[r] -= v * ac[r];
    }
  }
}

// T -= A S' for dense T (R x rows(S)) and A (R x cols(S)), S compressed.
void sub_dense_sparse_transpose(Mat& T, const Mat& A, const SpMat& S) {
  const Eigen::Index R = A.rows(), ldt = T.rows(), lda = A.rows();
  double* t = T.data();
  const double* a = A.data();
  switch (R) {
    case 0: return;
    case 1: return sub_fixed_rows<1>(t, ldt, a, lda, S);
    case 2: return sub_fixed_rows<2>(t, ldt, a, lda, S);
    case 3: return sub_fixed_rows<3>(t, ldt, a, lda, S);
    case 4: return sub_fixed_rows<4>(t, ldt, a, lda, S);
    case 5: return sub_fixed_rows<5>(t, ldt, a, lda, S);
    case 6: return sub_fixed_rows<6>(t, ldt, a, lda, S);
    case 7: return sub_fixed_rows<7>(t, ldt, a, lda, S);
    case 8: return sub_fixed_rows<8>(t, ldt, a, lda, S);
    default: break;
  }
  const int* outer = S.outerIndexPtr();
  const int* inner = S.innerIndexPtr();
  const double* val = S.valuePtr();
  for (Eigen::Index c = 0; c < S.outerSize(); ++c)
    for (int k = outer[c]; k < outer[c + 1]; ++k) T.col(inner[k]) -= val[k] * A.col(c);
}

}  // namespace

void downdate(Block& target, const Block& Lik, const Block& Ljk) {
  if (auto* t = std::get_if<Mat>(&target)) {
    const Mat* ai = std::get_if<Mat>(&Lik);
    const Mat* aj = std::get_if<Mat>(&Ljk);
    const SpMat* si = std::get_if<SpMat>(&Lik);
    const SpMat* sj = std::get_if<SpMat>(&Ljk);
    if (ai && aj) {
      t->noalias() -= *ai * aj->transpose();
      return;
    }
    if (ai && sj && sj->isCompressed()) {
      sub_dense_sparse_transpose(*t, *ai, *sj);
      return;
    }
    if (ai && sj) {
      t->noalias() -= *ai * SpMat(sj->transpose());
      return;
    }
    if (si && aj) {
      t->noalias() -= *si * aj->transpose();
      return;
    }
    if (si && sj && si->isCompressed() && sj->isCompressed()) {
      // T -= Lik Ljk', column by column of the two: T(a, b) -= Lik(a, c) Ljk(b, c).
      for (Eigen::Index c = 0; c < si->outerSize(); ++c) {
        const int bi = si->outerIndexPtr()[c], ei = si->outerIndexPtr()[c + 1];
        const int bj = sj->outerIndexPtr()[c], ej = sj->outerIndexPtr()[c + 1];
        for (int kb = bj; kb < ej; ++kb) {
          const double vb = sj->valuePtr()[kb];
          double* col = t->data() + static_cast<Eigen::Index>(sj->innerIndexPtr()[kb]) * t->rows();
          for (int ka = bi; ka < ei; ++ka) col[si->innerIndexPtr()[ka]] -= si->valuePtr()[ka] * vb;
        }
      }
      return;
    }
    if (si && sj) {
      *t -= Mat(*si * SpMat(sj->transpose()));
      return;
    }
  }
  if (auto* t = std::get_if<SpMat>(&target)) {
    const SpMat* si = std::get_if<SpMat>(&Lik);
    const SpMat* sj = std::get_if<SpMat>(&Ljk);
    if (si && sj) {
      *t = *t - SpMat(*si * SpMat(sj->transpose()));
      return;
    }
  }
  no_kernel("downdate", target, Lik);
}

bool cholesky(Block& diag) {
  if (auto* d = std::get_if<BlockDiag>(&diag)) {
    if (d->q == 1) {
      for (Eigen::Index b = 0; b < d->nblocks; ++b) {
        double v = d->data(0, b);
        if (!(v > 0)) return false;
        d->data(0, b) = std::sqrt(v);
      }
      return true;
    }
    for (Eigen::Index b = 0; b < d->nblocks; ++b) {
      auto blk = d->block(b);
      Eigen::LLT<Eigen::Ref<Mat>> llt(blk);
      if (llt.info() != Eigen::Success) return false;
      blk.triangularView<Eigen::StrictlyUpper>().setZero();
    }
    return true;
  }
  if (auto* m = std::get_if<Mat>(&diag)) return dense_cholesky(*m);
  if (auto* c = std::get_if<SparseChol>(&diag)) {
    if (!c->analyzed) {
      c->llt->analyzePattern(c->M);
      c->analyzed = true;
    }
    c->llt->factorize(c->M);
    return c->llt->info() == Eigen::Success;
  }
  throw std::logic_error("lmm internal error: cholesky of a sparse diagonal block");
}

void rdiv_lower_transpose(Block& target, const Block& L) {
  if (auto* d = std::get_if<BlockDiag>(&L)) {
    const int q = d->q;
    if (auto* t = std::get_if<Mat>(&target)) {
      if (q == 1) {
        t->array().rowwise() /= d->data.row(0).array();
        return;
      }
      for (Eigen::Index b = 0; b < d->nblocks; ++b) {
        auto cols = t->middleCols(b * q, q);
        d->block(b).transpose().triangularView<Eigen::Upper>().solveInPlace<Eigen::OnTheRight>(cols);
      }
      return;
    }
    if (auto* s = std::get_if<SpMat>(&target)) {
      if (q == 1) {
        for (Eigen::Index c = 0; c < s->outerSize(); ++c)
          for (SpMat::InnerIterator it(*s, c); it; ++it) it.valueRef() /= d->data(0, c);
        return;
      }
      // Columns within a block mix: multiply by the sparse block-diagonal L^{-T}.
      std::vector<Eigen::Triplet<double>> trip;
      trip.reserve(static_cast<std::size_t>(d->nblocks * q * q));
      Mat inv(q, q);
      for (Eigen::Index b = 0; b < d->nblocks; ++b) {
        inv.setIdentity();
        d->block(b).triangularView<Eigen::Lower>().solveInPlace(inv);  // L^{-1}
        for (Eigen::Index i = 0; i < q; ++i)
          for (Eigen::Index j = 0; j < q; ++j)
            if (inv(j, i) != 0) trip.emplace_back(b * q + i, b * q + j, inv(j, i));  // (L^{-1})'
      }
      SpMat LinvT(d->size(), d->size());
      LinvT.setFromTriplets(trip.begin(), trip.end());
      *s = *s * LinvT;
      return;
    }
  }
  if (auto* m = std::get_if<Mat>(&L)) {
    if (auto* t = std::get_if<Mat>(&target)) {
      m->triangularView<Eigen::Lower>().transpose().solveInPlace<Eigen::OnTheRight>(*t);
      return;
    }
  }
  if (auto* c = std::get_if<SparseChol>(&L)) {
    if (auto* t = std::get_if<Mat>(&target)) {
      // T (P'L̂)^{-T} = (L̂⁻¹ P T')'.
      Mat X = c->llt->permutationP() * t->transpose();
      c->llt->matrixL().solveInPlace(X);
      *t = X.transpose();
      return;
    }
  }
  no_kernel("rdiv_lower_transpose", target, L);
}

namespace {

// Σ log x_i for positive x_i, mostly by products: one log per ~a hundred entries instead of one
// per entry (the diagonal of L has q x nlevels entries, a log each dominated the objective).
class LogSum {
 public:
  void add(double x) {
    if (x > 1e-100 && x < 1e100) {
      prod_ *= x;
      if (prod_ > 1e100 || prod_ < 1e-100) flush();
    } else {
      sum_ += std::log(x);
    }
  }
  double value() {
    flush();
    return sum_;
  }

 private:
  void flush() {
    sum_ += std::log(prod_);
    prod_ = 1.0;
  }
  double prod_ = 1.0, sum_ = 0.0;
};

}  // namespace

double logdet(const Block& L) {
  LogSum s;
  if (auto* d = std::get_if<BlockDiag>(&L)) {
    const int q = d->q;
    const double* x = d->data.data();
    for (Eigen::Index b = 0; b < d->nblocks; ++b)
      for (int i = 0; i < q; ++i) s.add(x[(b * q + i) * q + i]);
    return 2 * s.value();
  }
  if (auto* m = std::get_if<Mat>(&L)) {
    for (Eigen::Index i = 0; i < m->rows(); ++i) s.add((*m)(i, i));
    return 2 * s.value();
  }
  if (auto* c = std::get_if<SparseChol>(&L)) {
    const SpMat& Lh = c->llt->matrixL().nestedExpression();
    // Simplicial factors store each column's diagonal entry first.
    for (Eigen::Index j = 0; j < Lh.outerSize(); ++j) s.add(Lh.valuePtr()[Lh.outerIndexPtr()[j]]);
    return 2 * s.value();
  }
  throw std::logic_error("lmm internal error: logdet of a sparse block");
}

void solve_lower_transpose(const Block& L, Eigen::Ref<Eigen::VectorXd> x) {
  if (auto* d = std::get_if<BlockDiag>(&L)) {
    const int q = d->q;
    for (Eigen::Index b = 0; b < d->nblocks; ++b) {
      auto seg = x.segment(b * q, q);
      d->block(b).transpose().triangularView<Eigen::Upper>().solveInPlace(seg);
    }
    return;
  }
  if (auto* c = std::get_if<SparseChol>(&L)) {
    // x = (P'L̂)^{-T} x = P' L̂^{-T} x.
    Eigen::VectorXd v = x;
    c->llt->matrixU().solveInPlace(v);
    x = c->llt->permutationPinv() * v;
    return;
  }
  std::get<Mat>(L).transpose().triangularView<Eigen::Upper>().solveInPlace(x);
}

void solve_lower(const Block& L, Eigen::Ref<Eigen::VectorXd> x) {
  if (auto* d = std::get_if<BlockDiag>(&L)) {
    const int q = d->q;
    for (Eigen::Index b = 0; b < d->nblocks; ++b) {
      auto seg = x.segment(b * q, q);
      d->block(b).triangularView<Eigen::Lower>().solveInPlace(seg);
    }
    return;
  }
  if (auto* c = std::get_if<SparseChol>(&L)) {
    // x = (P'L̂)⁻¹ x = L̂⁻¹ P x.
    Eigen::VectorXd v = c->llt->permutationP() * x;
    c->llt->matrixL().solveInPlace(v);
    x = v;
    return;
  }
  std::get<Mat>(L).triangularView<Eigen::Lower>().solveInPlace(x);
}

void sub_transpose_times(const Block& B, const Eigen::VectorXd& x, Eigen::Ref<Eigen::VectorXd> y) {
  if (auto* s = std::get_if<SpMat>(&B)) {
    y.noalias() -= s->transpose() * x;
    return;
  }
  if (auto* m = std::get_if<Mat>(&B)) {
    y.noalias() -= m->transpose() * x;
    return;
  }
  y.noalias() -= to_dense(B).transpose() * x;
}

void sub_times(const Block& B, const Eigen::VectorXd& x, Eigen::Ref<Eigen::VectorXd> y) {
  if (auto* s = std::get_if<SpMat>(&B)) {
    y.noalias() -= *s * x;
    return;
  }
  if (auto* m = std::get_if<Mat>(&B)) {
    y.noalias() -= *m * x;
    return;
  }
  y.noalias() -= to_dense(B) * x;
}

}  // namespace lmm::detail

namespace lmm {

void load_dense_kernels() {
#ifdef LMM_HAVE_OPENBLAS
  (void)detail::openblas();
#endif
}

}  // namespace lmm
