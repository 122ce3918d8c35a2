// Helpers shared by the tests: synthetic model frames built without the reader or the parser; the
// lme4 reference files in tests/data/reference and tolerant comparison against them; lmm::Error
// messages.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/model_frame.h"

namespace lmm::testing {

/// Sets fixed effects (Intercept) and x (one value per observation of f.y) and rows 0..n-1.
inline void set_intercept_and_x(ModelFrame& f, const std::vector<double>& x) {
  const std::size_t n = f.y.size();
  f.fixed_names = {"(Intercept)", "x"};
  f.X.assign(n, 1.0);
  f.X.insert(f.X.end(), x.begin(), x.end());
  for (std::size_t i = 0; i < n; ++i) f.rows.push_back(i);
}

/// y = 1 + 0.5 x + subject intercept and slope + item intercept + noise, every subject meeting
/// every item once. Terms ordered as lme4 orders them (more levels first). With nitems == 1 the
/// item term is left out.
inline ModelFrame synthetic_crossed(int nsubj, int nitems, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  ModelFrame f;
  ReTermData subj, item;
  subj.group = "subject";
  subj.names = {"(Intercept)", "x"};
  item.group = "item";
  item.names = {"(Intercept)"};
  for (int s = 0; s < nsubj; ++s) subj.levels.push_back("s" + std::to_string(s));
  for (int i = 0; i < nitems; ++i) item.levels.push_back("i" + std::to_string(i));
  std::vector<double> us(nsubj), vs(nsubj), ui(nitems);
  for (auto& v : us) v = 2 * N(gen);
  for (auto& v : vs) v = 0.7 * N(gen);
  for (auto& v : ui) v = 1.5 * N(gen);
  std::vector<double> x;
  const int reps = nitems == 1 ? 6 : 1;
  for (int s = 0; s < nsubj; ++s)
    for (int i = 0; i < nitems; ++i)
      for (int r = 0; r < reps; ++r) {
        const double xv = N(gen);
        x.push_back(xv);
        f.y.push_back(1 + 0.5 * xv + us[s] + vs[s] * xv + ui[i] + N(gen));
        subj.refs.push_back(s);
        subj.z.insert(subj.z.end(), {1.0, xv});
        item.refs.push_back(i);
        item.z.push_back(1.0);
      }
  set_intercept_and_x(f, x);
  f.response = "y";
  f.re.push_back(std::move(subj));
  if (nitems > 1) f.re.push_back(std::move(item));
  return f;
}

/// (1 | batch/cask): `reps` observations per cask, `casks` casks per batch.
inline ModelFrame synthetic_nested(int batches, int casks, int reps, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> N(0, 1);
  ModelFrame f;
  ReTermData cask, batch;
  cask.group = "cask:batch";
  cask.names = {"(Intercept)"};
  batch.group = "batch";
  batch.names = {"(Intercept)"};
  for (int b = 0; b < batches; ++b) {
    batch.levels.push_back("b" + std::to_string(b));
    for (int c = 0; c < casks; ++c) cask.levels.push_back("c" + std::to_string(c) + ":b" + std::to_string(b));
  }
  for (int b = 0; b < batches; ++b) {
    const double ub = 1.5 * N(gen);
    for (int c = 0; c < casks; ++c) {
      const double uc = 3 * N(gen);
      for (int r = 0; r < reps; ++r) {
        f.y.push_back(60 + ub + uc + N(gen));
        cask.refs.push_back(b * casks + c);
        cask.z.push_back(1.0);
        batch.refs.push_back(b);
        batch.z.push_back(1.0);
      }
    }
  }
  f.fixed_names = {"(Intercept)"};
  f.X.assign(f.y.size(), 1.0);
  for (std::size_t i = 0; i < f.y.size(); ++i) f.rows.push_back(i);
  f.response = "y";
  f.re.push_back(std::move(cask));
  f.re.push_back(std::move(batch));
  return f;
}

/// The JSON document in file p.
inline nlohmann::json load_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

/// The lme4 reference case tests/data/reference/<name>.json.
inline nlohmann::json load_reference(const std::string& name) {
  return load_json(std::filesystem::path(LMM_TEST_DATA) / "reference" / (name + ".json"));
}

/// Fits a reference case's data and formula by its method (ML or REML); other options from opt.
inline Fitted fit_reference(const nlohmann::json& ref, FitOptions opt = {}) {
  const DataFrame data =
      read_table((std::filesystem::path(LMM_TEST_DATA) / ref["data"].get<std::string>()).string());
  opt.method = ref["method"] == "ML" ? Method::ML : Method::REML;
  return fit(data, ref["formula"].get<std::string>(), opt);
}

/// a and b agree to `rel` relative to the larger or to `abs_` absolute; never when one is NaN.
inline bool close(double a, double b, double rel, double abs_ = 0) {
  if (std::isnan(a) || std::isnan(b)) return false;
  return std::abs(a - b) <= std::max(rel * std::max(std::abs(a), std::abs(b)), abs_);
}

/// s cut at every `sep`: n separators give n + 1 parts, empty ones included.
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

/// A group or level name with its ':'-separated parts sorted, so that 'a:b' matches 'b:a'.
inline std::string sorted_parts(const std::string& g) {
  std::vector<std::string> parts = split(g, ':');
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ":") + p;
  return out;
}

/// The message of the lmm::Error thrown by f(), or "" when none is thrown.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace lmm::testing
