#include "fit_extras.h"

#include <algorithm>
#include <map>
#include <optional>

#include "lmm/atomic_file.h"
#include "lmm/error.h"
#include "lmm/predict.h"
#include "lmm/summary_text.h"
#include "lmm/table_io.h"
#include "model_file.h"

namespace lmm::cli {

void add_fit_extras(CLI::App* cmd, FitExtras& x) {
  cmd->add_option(
      "--center", x.center,
      "center a predictor before fitting: VAR (grand mean) or VAR=VALUE (e.g. time=2); repeatable");
  cmd->add_option(
      "--center-person", x.center_person,
      "person-mean centering VAR:ID: adds VAR_within and VAR_between to the data; repeatable");
  cmd->add_option("--ranef", x.ranef_csv,
                  "write the random effects (modes, conditional SDs, coef) to this CSV");
  cmd->add_option("--save", x.save,
                  "save the fitted model (JSON) for `lmm predict` and `lmm simulate --model`");
}

void prepare_fit_data(DataFrame& data, FitExtras& x) {
  x.centering.clear();
  // The library's messages say "a centering needs ..."; name the flag.
  auto parse = [&](const std::string& s, bool person) {
    try {
      x.centering.push_back(parse_centering(s, person));
    } catch (const Error& e) {
      throw Error(std::string(person ? "--center-person" : "--center") + ": " + e.what());
    }
  };
  for (const auto& s : x.center_person) parse(s, true);
  for (const auto& s : x.center) parse(s, false);
  apply_centering(data, x.centering);
}

std::vector<std::string> centering_lines(const FitExtras& x) {
  std::vector<std::string> lines;
  for (const auto& c : x.centering) lines.push_back(describe_centering(c));
  return lines;
}

void write_centering_json(JsonWriter& w, const FitExtras& x) {
  w.begin_array();
  for (const auto& c : x.centering) {
    SortedObject e;
    e.add("variable", c.variable).add("description", describe_centering(c));
    switch (c.kind) {
      case Centering::Kind::GrandMean:
        e.add("kind", "mean").add("value", c.value);
        break;
      case Centering::Kind::AtValue:
        e.add("kind", "value").add("value", c.value);
        break;
      case Centering::Kind::PersonMean:
        e.add("kind", "person_mean").add("group", c.group).add("levels", c.person_means.size());
        e.add("columns", std::vector<std::string>{c.variable + "_between", c.variable + "_within"});
        break;
    }
    e.write(w);
  }
  w.end_array();
}

namespace {

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (std::find(to.begin(), to.end(), n) == to.end()) to.push_back(n);
}

}  // namespace

DataFrame ranef_table(const std::vector<RandomEffectLevel>& ranef, const std::vector<LevelCoefficients>& coef,
                      const std::vector<std::string>& terms, const std::vector<std::string>& coef_terms) {
  DataFrame t;
  t.nrows = ranef.size();
  std::vector<std::optional<std::string>> group, level;
  for (const auto& e : ranef) {
    group.emplace_back(e.group);
    level.emplace_back(e.level);
  }
  t.columns.push_back(categorical_column("group", group));
  t.columns.push_back(categorical_column("level", level));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const auto& n : terms) {
    std::vector<double> mode(t.nrows, nan), sd(t.nrows, nan);
    for (std::size_t i = 0; i < t.nrows; ++i) {
      const auto& e = ranef[i];
      const auto it = std::find(e.terms.begin(), e.terms.end(), n);
      if (it == e.terms.end()) continue;
      mode[i] = e.mode[static_cast<std::size_t>(it - e.terms.begin())];
      sd[i] = e.condsd[static_cast<std::size_t>(it - e.terms.begin())];
    }
    t.columns.push_back(numeric_column(n, std::move(mode)));
    t.columns.push_back(numeric_column("condsd_" + n, std::move(sd)));
  }
  for (const auto& n : coef_terms) {
    std::vector<double> v(t.nrows, nan);
    for (std::size_t i = 0; i < t.nrows && i < coef.size(); ++i) {
      const auto& c = coef[i];
      const auto it = std::find(c.terms.begin(), c.terms.end(), n);
      if (it != c.terms.end()) v[i] = c.values[static_cast<std::size_t>(it - c.terms.begin())];
    }
    t.columns.push_back(numeric_column("coef_" + n, std::move(v)));
  }
  return t;
}

std::string ranef_csv(const FitResult& r) {
  std::vector<std::string> terms, coef_terms;  // unions, in order of appearance
  for (const auto& e : r.ranef) add_unique(terms, e.terms);
  for (const auto& c : r.coef) add_unique(coef_terms, c.terms);
  return to_csv(ranef_table(r.ranef, r.coef, terms, coef_terms));
}

void write_fit_extras(const Fitted& f, const FitExtras& x, const std::string& data_path) {
  if (!x.ranef_csv.empty()) write_file_atomically(x.ranef_csv, ranef_csv(f.result));
  if (!x.save.empty()) {
    SavedModel m = snapshot(f.model);
    m.data_source = data_path;
    m.data_hash = data_hash_of_file(data_path);
    m.centering = x.centering;
    save_model(m, x.save);
  }
}

}  // namespace lmm::cli
