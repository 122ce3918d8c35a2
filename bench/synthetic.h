// Synthetic model frames for the micro-benchmarks, built without the reader or the parser: the
// design of bench/simulate_growth.R (N persons x T waves, random intercept and slope, a treatment
// group, 10% of non-baseline rows missing) and a crossed subjects x items design.
#pragma once
#include <random>
#include <string>

#include "lmm/model_frame.h"

namespace lmm::bench {

/// y ~ time * group + (time | id): X = [1, time, grouptreatment, time:grouptreatment], z = [1, time].
inline ModelFrame growth_frame(int persons, int waves, unsigned seed = 1) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> N(0, 1);
  std::uniform_real_distribution<double> U(0, 1);
  ModelFrame f;
  ReTermData id;
  id.group = "id";
  id.names = {"(Intercept)", "time"};
  id.levels.reserve(persons);
  for (int i = 0; i < persons; ++i) id.levels.push_back("P" + std::to_string(i + 1));
  std::vector<double> time, grp;
  for (int i = 0; i < persons; ++i) {
    const double g = U(gen) < 0.5 ? 1.0 : 0.0;
    const double u0 = 8 * N(gen);
    const double u1 = -0.3 * 1.5 / 8 * u0 + 1.5 * std::sqrt(1 - 0.09) * N(gen);
    for (int t = 0; t < waves; ++t) {
      if (t > 0 && U(gen) < 0.1) continue;
      f.y.push_back(50 + u0 + (2 + g + u1) * t + 4 * N(gen));
      time.push_back(t);
      grp.push_back(g);
      id.refs.push_back(i);
      id.z.insert(id.z.end(), {1.0, static_cast<double>(t)});
    }
  }
  const std::size_t n = f.y.size();
  f.fixed_names = {"(Intercept)", "time", "grouptreatment", "time:grouptreatment"};
  f.X.assign(n, 1.0);
  f.X.insert(f.X.end(), time.begin(), time.end());
  f.X.insert(f.X.end(), grp.begin(), grp.end());
  for (std::size_t i = 0; i < n; ++i) f.X.push_back(time[i] * grp[i]);
  f.rows.resize(n);
  for (std::size_t i = 0; i < n; ++i) f.rows[i] = i;
  f.response = "y";
  f.re.push_back(std::move(id));
  return f;
}

/// y ~ 1 + (1 | subject) + (1 | item): each subject meets `per_subject` distinct items at random.
inline ModelFrame crossed_frame(int subjects, int items, int per_subject, unsigned seed = 1) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> N(0, 1);
  ModelFrame f;
  ReTermData subj, item;
  subj.group = "subject";
  item.group = "item";
  subj.names = item.names = {"(Intercept)"};
  for (int s = 0; s < subjects; ++s) subj.levels.push_back("s" + std::to_string(s));
  for (int i = 0; i < items; ++i) item.levels.push_back("i" + std::to_string(i));
  std::vector<double> ui(items);
  for (auto& v : ui) v = 1.5 * N(gen);
  std::vector<int> perm(items);
  for (int i = 0; i < items; ++i) perm[i] = i;
  for (int s = 0; s < subjects; ++s) {
    const double us = 2 * N(gen);
    for (int k = 0; k < per_subject; ++k) {  // partial Fisher-Yates: distinct items
      std::uniform_int_distribution<int> D(k, items - 1);
      std::swap(perm[k], perm[D(gen)]);
      const int i = perm[k];
      f.y.push_back(10 + us + ui[i] + N(gen));
      subj.refs.push_back(s);
      subj.z.push_back(1.0);
      item.refs.push_back(i);
      item.z.push_back(1.0);
    }
  }
  f.fixed_names = {"(Intercept)"};
  f.X.assign(f.y.size(), 1.0);
  f.rows.resize(f.y.size());
  for (std::size_t i = 0; i < f.y.size(); ++i) f.rows[i] = i;
  f.response = "y";
  if (subjects >= items) {
    f.re.push_back(std::move(subj));
    f.re.push_back(std::move(item));
  } else {
    f.re.push_back(std::move(item));
    f.re.push_back(std::move(subj));
  }
  return f;
}

}  // namespace lmm::bench
