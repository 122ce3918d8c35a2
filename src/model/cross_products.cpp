// A = [Z X y]'[Z X y] in blocks, from the rows of the model frame (Bates et al. 2015, J. Stat.
// Softw. 67(1), sec. 3: everything the profiled deviance needs, for any θ, is in A).
//
// One pass per random-effects term over the rows grouped by the term's levels builds that term's
// block column: A[k][k] (block-diagonal, q_k x q_k per level), A[K][k] = [X y]'Z_k and the sparse
// A[i][k] = Z_i'Z_k for the later terms i > k. The pass for the first term also accumulates
// A[K][K] = [X y]'[X y]. A model with one term (the longitudinal case) reads the rows once.
//
// Levels are split into chunks worked on in parallel; each level's sums are made by one chunk in
// row order and the chunks' partial A[K][K] are added in chunk order, so the result is the same for
// any number of threads. Rows are grouped by a counting sort, skipped when they already are.
#include <Eigen/Dense>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "model/model_impl.h"
#include "util/group_order.h"
#include "util/parallel.h"

namespace lmm::detail {

namespace {

// Rows of one term grouped by level: rows of level b are order[start[b] .. start[b+1]) (or the
// identity order when the rows are already grouped).
struct Grouping {
  std::vector<std::uint32_t> order;  // empty: the identity
  std::vector<std::size_t> start;    // nlevels + 1
  std::size_t row(std::size_t k) const { return order.empty() ? k : order[k]; }
};

Grouping group_rows(const std::vector<std::int32_t>& refs, std::size_t nlev) {
  Grouping g;
  g.start = detail::group_starts(refs, nlev);
  if (std::is_sorted(refs.begin(), refs.end())) return g;
  if (refs.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("lmm: more than 2^32 rows are not supported");
  g.order = detail::scatter_by_group<std::uint32_t>(refs, g.start);
  return g;
}

// The sparse block A[i][k] = Z_i'Z_k, built column-block by column-block (one per level of k).
struct SparseColumns {
  std::vector<std::int64_t> counts;  // entries per column
  std::vector<int> inner;
  std::vector<double> values;
};

struct Pass {
  const ModelFrame& f;
  int k;     // the term whose block column this pass builds
  int K;     // number of terms
  int qk;
  std::size_t n, np;
  const double* X;
  const double* y;
  const double* zk;
  const std::int32_t* refk;
  double* Akk;  // q_k x q_k per level, column-major, level-major
  double* AKk;  // (p+1) x q_k per level, column-major
};

// Adds row i's contributions to A[k][k] and A[K][k] for level b. Q is q_k when known at compile
// time (1 to 4, the common cases), else 0 and qk is used.
template <int Q>
inline void add_row(const Pass& ps, std::size_t i, std::size_t b, double* xy) {
  const int q = Q > 0 ? Q : ps.qk;
  const double* z = ps.zk + i * static_cast<std::size_t>(q);
  double* akk = ps.Akk + b * static_cast<std::size_t>(q * q);
  for (int c = 0; c < q; ++c)
    for (int r = 0; r < q; ++r) akk[c * q + r] += z[r] * z[c];
  const std::size_t m = ps.np + 1;
  double* akb = ps.AKk + b * m * static_cast<std::size_t>(q);
  for (int c = 0; c < q; ++c) {
    const double zc = z[c];
    double* col = akb + c * m;
    for (std::size_t r = 0; r < m; ++r) col[r] += xy[r] * zc;
  }
}

template <int Q>
void term_pass(const Pass& ps, const Grouping& g, std::size_t begin_level, std::size_t end_level,
               double* akk_partial /* (p+1)^2, only for k == 0 */) {
  const std::size_t m = ps.np + 1;
  std::vector<double> xy(m);
  for (std::size_t b = begin_level; b < end_level; ++b) {
    for (std::size_t s = g.start[b]; s < g.start[b + 1]; ++s) {
      const std::size_t i = g.row(s);
      for (std::size_t c = 0; c < ps.np; ++c) xy[c] = ps.X[c * ps.n + i];
      xy[ps.np] = ps.y[i];
      add_row<Q>(ps, i, b, xy.data());
      if (akk_partial) {
        for (std::size_t c = 0; c < m; ++c) {
          const double v = xy[c];
          double* col = akk_partial + c * m;
          for (std::size_t r = c; r < m; ++r) col[r] += xy[r] * v;
        }
      }
    }
  }
}

// Column block of A[i][k] for the levels [begin_level, end_level) of term k. The levels of term i
// met by level b get slots in order of first appearance (`slot`, reset after each level), so each
// level's rows are read once and only the distinct levels met are sorted; each entry sums its rows
// in row order, as when the rows were sorted by (level of i, row) instead: with that sort of
// 16-byte pairs per level, InstEval's first pass (students by instructors and departments) took
// 4.3 ms, with the slots 2.75 (warm repeats).
void sparse_columns(const ModelFrame& f, int i, int k, const Grouping& g, std::size_t begin_level,
                    std::size_t end_level, SparseColumns& out) {
  const auto& ti = f.re[static_cast<std::size_t>(i)];
  const auto& tk = f.re[static_cast<std::size_t>(k)];
  const int qi = ti.q(), qk = tk.q();
  const auto block = static_cast<std::size_t>(qi * qk);
  thread_local std::vector<std::int32_t> slot;  // per level of term i: its slot in acc, or -1
  if (slot.size() < ti.nlevels()) slot.assign(ti.nlevels(), -1);
  std::vector<double> acc;
  std::vector<std::int32_t> levels, sorted;  // levels of term i met by level b: by slot, by level
  const auto clear_slots = [&] {
    for (std::int32_t l : levels) slot[static_cast<std::size_t>(l)] = -1;
    levels.clear();
  };
  struct OnExit {  // the slots back to -1 also when an allocation throws
    decltype(clear_slots)& f;
    ~OnExit() { f(); }
  } on_exit{clear_slots};
  for (std::size_t b = begin_level; b < end_level; ++b) {
    clear_slots();
    acc.clear();
    for (std::size_t s = g.start[b]; s < g.start[b + 1]; ++s) {
      const std::size_t r = g.row(s);
      const std::int32_t li = ti.refs[r];
      std::int32_t& at = slot[static_cast<std::size_t>(li)];
      if (at < 0) {
        at = static_cast<std::int32_t>(levels.size());
        levels.push_back(li);
        acc.resize(acc.size() + block, 0.0);
      }
      double* a0 = &acc[static_cast<std::size_t>(at) * block];
      const double* zi = &ti.z[r * static_cast<std::size_t>(qi)];
      const double* zk = &tk.z[r * static_cast<std::size_t>(qk)];
      for (int c = 0; c < qk; ++c)
        for (int a = 0; a < qi; ++a) a0[c * qi + a] += zi[a] * zk[c];
    }
    sorted.assign(levels.begin(), levels.end());
    std::sort(sorted.begin(), sorted.end());
    const auto nl = static_cast<std::int64_t>(sorted.size());
    for (int c = 0; c < qk; ++c) {
      out.counts.push_back(nl * qi);
      for (std::int32_t l : sorted) {
        const std::size_t base = static_cast<std::size_t>(slot[static_cast<std::size_t>(l)]) * block;
        for (int a = 0; a < qi; ++a) {
          out.inner.push_back(l * qi + a);
          out.values.push_back(acc[base + static_cast<std::size_t>(c * qi + a)]);
        }
      }
    }
  }
}

// Chunks of levels with about the same number of rows each: chunk c holds levels
// [bounds[c], bounds[c + 1]).
std::vector<std::size_t> chunk_levels(const Grouping& g, std::size_t n, int nchunks, std::size_t nlevels) {
  std::vector<std::size_t> level_bounds(static_cast<std::size_t>(nchunks) + 1);
  for (int c = 0; c <= nchunks; ++c) {
    // The first level whose rows start at or after the chunk's share of the rows.
    const std::size_t target = chunk_begin(n, nchunks, c);
    level_bounds[static_cast<std::size_t>(c)] = static_cast<std::size_t>(
        std::lower_bound(g.start.begin(), g.start.end() - 1, target) - g.start.begin());
  }
  level_bounds[0] = 0;
  level_bounds[static_cast<std::size_t>(nchunks)] = nlevels;
  return level_bounds;
}

// The sparse block from the chunks' columns, in chunk order (the parts are emptied).
SpMat join_columns(std::vector<SparseColumns>& parts, Eigen::Index rows, Eigen::Index cols) {
  std::size_t nnz = 0;
  for (const auto& p : parts) nnz += p.values.size();
  SpMat S(rows, cols);
  S.resizeNonZeros(static_cast<Eigen::Index>(nnz));
  auto* outer = S.outerIndexPtr();
  outer[0] = 0;
  std::size_t col = 0, pos = 0;
  for (auto& p : parts) {
    for (std::int64_t cnt : p.counts) {
      outer[col + 1] = static_cast<int>(static_cast<std::int64_t>(outer[col]) + cnt);
      ++col;
    }
    std::copy(p.inner.begin(), p.inner.end(), S.innerIndexPtr() + pos);
    std::copy(p.values.begin(), p.values.end(), S.valuePtr() + pos);
    pos += p.values.size();
    p = SparseColumns();
  }
  return S;
}

}  // namespace

void build_cross_products(const ModelFrame& f, const double* y, std::vector<std::vector<Block>>& A) {
  const int K = static_cast<int>(f.re.size());
  const std::size_t n = f.n(), np = f.p(), m = np + 1;
  A.assign(static_cast<std::size_t>(K) + 1, {});
  for (int i = 0; i <= K; ++i) A[static_cast<std::size_t>(i)].resize(static_cast<std::size_t>(i) + 1);
  std::vector<double> akk_total(m * m, 0.0);

  for (int k = 0; k < K; ++k) {
    const auto& t = f.re[static_cast<std::size_t>(k)];
    const int q = t.q();
    const auto nlev = static_cast<Eigen::Index>(t.nlevels());
    const Grouping g = group_rows(t.refs, t.nlevels());

    BlockDiag d;
    d.q = q;
    d.nblocks = nlev;
    d.data = Mat::Zero(q, q * nlev);
    Mat xy = Mat::Zero(static_cast<Eigen::Index>(m), q * nlev);
    Pass ps{f, k, K, q, n, np, f.X.data(), y, t.z.data(), t.refs.data(), d.data.data(), xy.data()};

    const int nchunks = chunk_count(n, 4096);
    const std::vector<std::size_t> level_bounds = chunk_levels(g, n, nchunks, t.nlevels());
    std::vector<std::vector<double>> partial(k == 0 ? static_cast<std::size_t>(nchunks) : 0);
    std::vector<std::vector<SparseColumns>> cols(static_cast<std::size_t>(K - k - 1),
                                                 std::vector<SparseColumns>(static_cast<std::size_t>(nchunks)));
    parallel_for(nchunks, [&](int c) {
      const std::size_t lb = level_bounds[static_cast<std::size_t>(c)], le = level_bounds[static_cast<std::size_t>(c) + 1];
      double* pk = nullptr;
      if (k == 0) {
        partial[static_cast<std::size_t>(c)].assign(m * m, 0.0);
        pk = partial[static_cast<std::size_t>(c)].data();
      }
      switch (q) {
        case 1: term_pass<1>(ps, g, lb, le, pk); break;
        case 2: term_pass<2>(ps, g, lb, le, pk); break;
        case 3: term_pass<3>(ps, g, lb, le, pk); break;
        case 4: term_pass<4>(ps, g, lb, le, pk); break;
        default: term_pass<0>(ps, g, lb, le, pk); break;
      }
      for (int i = k + 1; i < K; ++i)
        sparse_columns(f, i, k, g, lb, le, cols[static_cast<std::size_t>(i - k - 1)][static_cast<std::size_t>(c)]);
    });
    if (k == 0)
      for (const auto& p : partial)
        for (std::size_t e = 0; e < m * m; ++e) akk_total[e] += p[e];

    for (int i = k + 1; i < K; ++i) {
      const auto& ti = f.re[static_cast<std::size_t>(i)];
      A[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)] = join_columns(
          cols[static_cast<std::size_t>(i - k - 1)], ti.q() * static_cast<Eigen::Index>(ti.nlevels()), q * nlev);
    }
    A[static_cast<std::size_t>(k)][static_cast<std::size_t>(k)] = std::move(d);
    A[static_cast<std::size_t>(K)][static_cast<std::size_t>(k)] = std::move(xy);
  }

  Mat akk(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(m));
  for (std::size_t c = 0; c < m; ++c)
    for (std::size_t r = c; r < m; ++r)
      akk(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)) =
          akk(static_cast<Eigen::Index>(c), static_cast<Eigen::Index>(r)) = akk_total[c * m + r];
  A[static_cast<std::size_t>(K)][static_cast<std::size_t>(K)] = std::move(akk);
}

}  // namespace lmm::detail
