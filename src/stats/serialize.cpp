// The binary form of SufficientStatistics. Layout (little-endian, 8-byte fields):
//   "LMMSTAT\0", u32 version, u32 reserved 0, u64 schema fingerprint, u64 nobs, u64 dropped,
//   u64 p, u64 K, per term u64 q and u64 levels,
//   f64 [X y]'[X y] ((p+1)^2), f64 column sums of X (p),
//   per term u64 count of the levels with rows, count u64 level indices (ascending), and for each
//   of those levels its f64 Z'Z block (q*q) and f64 [X y]'Z block ((p+1)*q): a partial over a
//   few of many levels is small,
//   per pair of terms (1,0), (2,0), (2,1), ...: u64 count, count u64 keys (ascending), count*q_i*q_k f64,
//   u64 FNV-1a checksum of everything before it.
#include <algorithm>
#include <bit>
#include <cstring>
#include <fmt/format.h>
#include <numeric>

#include "lmm/error.h"
#include "stats/statistics_impl.h"

namespace lmm {

static_assert(std::endian::native == std::endian::little, "the binary form is written little-endian");

namespace {

constexpr char kMagic[8] = {'L', 'M', 'M', 'S', 'T', 'A', 'T', '\0'};
constexpr std::uint32_t kVersion = 1;

struct Writer {
  std::string out;
  void raw(const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); }
  void u64(std::uint64_t v) { raw(&v, sizeof v); }
  void doubles(const std::vector<double>& v) { raw(v.data(), v.size() * sizeof(double)); }
};

struct Reader {
  std::string_view in;
  std::size_t pos = 0;
  void raw(void* p, std::size_t n) {
    if (n > in.size() - pos) throw Error("the statistics are truncated (the input ends early)");
    std::memcpy(p, in.data() + pos, n);
    pos += n;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    raw(&v, sizeof v);
    return v;
  }
  void doubles(std::vector<double>& v) { raw(v.data(), v.size() * sizeof(double)); }
  // A count read from the input, refused before it sizes an allocation beyond what is left.
  std::size_t count(std::size_t bytes_each) {
    const std::uint64_t c = u64();
    if (bytes_each > 0 && c > (in.size() - pos) / bytes_each) throw Error("the statistics are truncated (the input ends early)");
    return static_cast<std::size_t>(c);
  }
};

void expect(std::uint64_t got, std::uint64_t want, const char* what) {
  if (got != want)
    throw Error(fmt::format("the statistics do not match the schema: {} is {}, the schema has {}", what, got, want));
}

// A term's blocks for the levels that have rows (a level without rows has a zero Z'Z block,
// and then a zero [X y]'Z block).
void write_term(Writer& w, const SufficientStatistics::Impl::Term& t) {
  const std::size_t dq = t.q * t.q, dx = t.xz.size() / std::max<std::size_t>(t.nlev, 1);
  std::vector<std::uint64_t> used;
  for (std::size_t b = 0; b < t.nlev; ++b)
    if (std::any_of(t.diag.begin() + static_cast<std::ptrdiff_t>(b * dq),
                    t.diag.begin() + static_cast<std::ptrdiff_t>((b + 1) * dq), [](double v) { return v != 0; }))
      used.push_back(b);
  w.u64(used.size());
  for (std::uint64_t b : used) w.u64(b);
  for (std::uint64_t b : used) {
    w.raw(t.diag.data() + b * dq, dq * sizeof(double));
    w.raw(t.xz.data() + b * dx, dx * sizeof(double));
  }
}

void read_term(Reader& r, SufficientStatistics::Impl::Term& t) {
  const std::size_t dq = t.q * t.q, dx = t.xz.size() / std::max<std::size_t>(t.nlev, 1);
  const std::size_t c = r.count(8 + (dq + dx) * sizeof(double));
  std::vector<std::uint64_t> used(c);
  for (auto& b : used) {
    b = r.u64();
    if (b >= t.nlev) throw Error("the statistics are corrupt (a level beyond the schema's levels)");
  }
  for (std::uint64_t b : used) {
    r.raw(t.diag.data() + b * dq, dq * sizeof(double));
    r.raw(t.xz.data() + b * dx, dx * sizeof(double));
  }
}

}  // namespace

std::string SufficientStatistics::Impl::serialize() const {
  Writer w;
  w.raw(kMagic, sizeof kMagic);
  const std::uint32_t head[2] = {kVersion, 0};
  w.raw(head, sizeof head);
  for (std::uint64_t v : {schema->fingerprint, nobs, n_dropped, std::uint64_t{p}, std::uint64_t{terms.size()}}) w.u64(v);
  for (const Term& t : terms) w.u64(t.q), w.u64(t.nlev);
  w.doubles(akk);
  w.doubles(sumx);
  for (const Term& t : terms) write_term(w, t);
  for (const Cross& x : cross) {
    std::vector<std::uint64_t> keys = x.keys;
    std::sort(keys.begin(), keys.end());
    const std::size_t width = terms[x.i].q * terms[x.k].q;
    w.u64(keys.size());
    for (std::uint64_t k : keys) w.u64(k);
    for (std::uint64_t k : keys) w.raw(x.values.data() + x.index.at(k), width * sizeof(double));
  }
  detail::Fnv h;
  h.bytes(w.out.data(), w.out.size());
  w.u64(h.value);
  return std::move(w.out);
}

void SufficientStatistics::Impl::deserialize(std::string_view bytes) {
  if (bytes.size() < 16 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw Error("the input is not lmm statistics (no LMMSTAT header)");
  std::uint32_t head[2];
  std::memcpy(head, bytes.data() + 8, sizeof head);
  if (head[0] != kVersion)
    throw Error(fmt::format("the statistics have format version {}; this lmm reads version {}", head[0], kVersion));
  if (bytes.size() < 24) throw Error("the statistics are truncated (the input ends early)");
  detail::Fnv h;
  h.bytes(bytes.data(), bytes.size() - 8);
  std::uint64_t sum = 0;
  std::memcpy(&sum, bytes.data() + bytes.size() - 8, 8);
  if (sum != h.value) throw Error("the statistics are corrupt or truncated (checksum mismatch)");
  Reader r{bytes.substr(0, bytes.size() - 8), 16};
  if (r.u64() != schema->fingerprint)
    throw Error("the statistics were accumulated under another schema (formula, levels or response shift differ)");
  nobs = r.u64();
  n_dropped = r.u64();
  expect(r.u64(), p, "the number of fixed-effect columns");
  expect(r.u64(), terms.size(), "the number of random-effects terms");
  for (const Term& t : terms) expect(r.u64(), t.q, "a term's columns"), expect(r.u64(), t.nlev, "a term's levels");
  r.doubles(akk);
  r.doubles(sumx);
  for (Term& t : terms) read_term(r, t);
  for (Cross& x : cross) {
    const std::size_t width = terms[x.i].q * terms[x.k].q;
    const std::size_t c = r.count(8 + width * sizeof(double));
    x.keys.resize(c);
    for (auto& k : x.keys) {
      k = r.u64();
      if ((k >> 32) >= terms[x.i].nlev || (k & 0xffffffffULL) >= terms[x.k].nlev)
        throw Error("the statistics are corrupt (a pair of levels beyond the schema's levels)");
    }
    x.values.resize(c * width);
    r.doubles(x.values);
    for (std::size_t e = 0; e < c; ++e) x.index.emplace(x.keys[e], e * width);
  }
  if (r.pos != r.in.size()) throw Error("the statistics have trailing bytes after their blocks");
}

std::string SufficientStatistics::serialize() const { return impl_->serialize(); }

SufficientStatistics SufficientStatistics::deserialize(std::string_view bytes,
                                                       std::shared_ptr<const StatisticsSchema> schema) {
  SufficientStatistics s(std::move(schema));
  s.impl_->deserialize(bytes);
  return s;
}

}  // namespace lmm
