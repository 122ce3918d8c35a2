// lmm._lmm: the engine for Python. A thin layer, as the CLI is: tables come in as buffers
// (table.cpp), results go out as the JSON text `lmm fit --json` prints (lmm_output), which the
// pure-Python package (python/lmm/__init__.py) turns into dicts and pandas DataFrames.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>
#include <utility>

#include "json_glmm.h"
#include "json_inference.h"
#include "json_output.h"
#include "lmm/atomic_file.h"
#include "lmm/compare.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/glmm.h"
#include "lmm/residual.h"
#include "lmm/inference.h"
#include "lmm/parallel.h"
#include "lmm/predict.h"
#include "lmm/simulate.h"
#include "lmm/statistics.h"
#include "lmm/summary_text.h"
#include "lmm/version.h"
#include "model_file.h"
#include "report_json.h"
#include "table.h"
#include "wording.h"

namespace lmm::python {

void bind_power(py::module_& mod);  // power.cpp

namespace {

// The library names option fields; Python users know the keyword arguments.
constexpr std::pair<std::string_view, std::string_view> kWording[] = {
    {"set CompareOptions::reml to false", "use reml=False"},
    {"CompareOptions::reml", "reml=True"},
    {"set CompareOptions::complete_cases", "use complete_cases=True"},
    {"BootstrapOptions::replicates", "nboot"},
    {"refit with Method::REML", "refit with reml=True"},
    {"DdfMethod::Satterthwaite", "ddf=\"satterthwaite\""},
    {"FitOptions::ddf KenwardRoger", "ddf=\"kenward-roger\""},
    {"ModelFrameOptions::weights", "weights"},
    {"use Satterthwaite", "use ddf=\"satterthwaite\""},
    {"ModelFrameOptions::reference_levels: ", "ref: "},
    {"ReadOptions::na_values", "na_values"},
    {"ResidualOptions::sd_by", "residual_sd_by"},
    {"ResidualOptions::time", "residual"},
    {"ResidualOptions::group", "residual"},
    {"ResidualOptions::structure", "residual"},
    {"ModelFrameOptions::residual", "residual"},
    {"GlmmOptions::nagq", "nagq"},
    {"(GlmmOptions::family)", "(family=)"},
    {"GlmmOptions::family", "family"},
    {"GlmmOptions::link", "link"},
};

std::string in_python_terms(std::string message) { return cli::replace_phrases(std::move(message), kWording); }

/// A table the engine reads: built once from Python's columns (or a CSV file), shared by the fits.
struct Table {
  std::shared_ptr<const DataFrame> df;
};

/// The keyword arguments of lmm.fit() that reach FitOptions, one setter each: a new option
/// (residual=, family=) is one line here and one keyword in lmm.fit().
using Setter = std::function<void(FitOptions&, const py::handle&)>;
const std::map<std::string, Setter>& option_setters() {
  static const std::map<std::string, Setter> setters{
      {"reml", [](FitOptions& o, const py::handle& v) { o.method = v.cast<bool>() ? Method::REML : Method::ML; }},
      {"ddf", [](FitOptions& o, const py::handle& v) { o.ddf = parse_ddf_method(v.cast<std::string>()); }},
      {"weights", [](FitOptions& o, const py::handle& v) { o.frame.weights = v.cast<std::string>(); }},
      {"offset", [](FitOptions& o, const py::handle& v) { o.frame.offset = v.cast<std::string>(); }},
      {"ref", [](FitOptions& o, const py::handle& v) {
         o.frame.reference_levels = v.cast<std::map<std::string, std::string>>();
       }},
      {"contrasts", [](FitOptions& o, const py::handle& v) {
         o.frame.unordered_contrasts = parse_contrasts(v.cast<std::string>());
       }},
      {"residual", [](FitOptions& o, const py::handle& v) {
         try {
           parse_residual_structure(v.cast<std::string>(), o.frame.residual);
         } catch (const Error& e) {
           throw Error(std::string("residual: ") + e.what());
         }
       }},
      {"residual_sd_by", [](FitOptions& o, const py::handle& v) { o.frame.residual.sd_by = v.cast<std::string>(); }},
  };
  return setters;
}

FitOptions fit_options(const py::dict& kwargs) {
  FitOptions o;
  for (const auto& [key, value] : kwargs) {
    const auto name = key.cast<std::string>();
    const auto it = option_setters().find(name);
    if (it == option_setters().end()) throw py::type_error("fit() got an unexpected option '" + name + "'");
    it->second(o, value);
  }
  if (o.ddf == DdfMethod::KenwardRoger && o.method == Method::ML)
    throw Error("ddf=\"kenward-roger\" needs a REML fit (Kenward-Roger adjusts the REML covariance of the fixed "
                "effects); use reml=True, or ddf=\"satterthwaite\"");
  return o;
}

/// A fitted model with the table it was fitted to (for the report, comparisons, simulation).
struct Model {
  Table data;
  std::string formula;
  FitOptions options;
  Fitted fitted;
  std::shared_ptr<SavedModel> saved;  // made on first use by predict/save

  const SavedModel& snapshot_once() {
    if (!saved) {
      saved = std::make_shared<SavedModel>(snapshot(fitted.model));
      saved->data_source = data.df->source;
      if (!saved->data_source.empty())  // read from a file: its hash, as `lmm fit --save` writes
        saved->data_hash = data_hash_of_file(saved->data_source);
    }
    return *saved;
  }
};

Model fit_model(const Table& data, const std::string& formula, const py::dict& kwargs) {
  FitOptions options = fit_options(kwargs);
  py::gil_scoped_release release;
  Fitted f = fit(*data.df, formula, options);
  return Model{data, formula, options, std::move(f), nullptr};
}

std::string fit_json(const FitResult& r, int indent) {
  std::ostringstream out;
  if (indent == 2) {
    cli::print_json(out, r);  // `lmm fit --json`, byte for byte
  } else {
    cli::JsonWriter w(out, indent);
    cli::write_json(w, r);
    w.flush();
  }
  return out.str();
}

/// The fit's JSON without its per-level arrays (ranef[], coef[]): what the model's properties read,
/// cheap also with 100,000 levels (Model.ranef and Model.coef come from level_table()).
std::string light_json(Model& m) {
  auto& r = m.fitted.result;
  std::vector<RandomEffectLevel> ranef;
  std::vector<LevelCoefficients> coef;
  ranef.swap(r.ranef);
  coef.swap(r.coef);
  std::string text;
  try {
    text = fit_json(r, -1);
  } catch (...) {
    ranef.swap(r.ranef);
    coef.swap(r.coef);
    throw;
  }
  ranef.swap(r.ranef);
  coef.swap(r.coef);
  return text;
}

/// Per-level rows as columns, as the JSON's ranef[] (each term's mode, then condsd_<term>) or
/// coef[] (each term's value): group, level, and per column a float64 array (NaN where a level's
/// grouping factor lacks the term).
template <typename Level, typename Value>
py::tuple level_table(const std::vector<Level>& rows, bool condsd, Value value) {
  std::vector<std::string> groups, levels, names;
  std::map<std::string, std::vector<double>> columns;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    groups.push_back(rows[i].group);
    levels.push_back(rows[i].level);
    for (std::size_t k = 0; k < rows[i].terms.size(); ++k) {
      const std::string& t = rows[i].terms[k];
      for (int sd = 0; sd <= (condsd ? 1 : 0); ++sd) {
        const std::string name = sd ? "condsd_" + t : t;
        auto [it, added] = columns.try_emplace(name, rows.size(), nan);
        if (added) names.push_back(name);
        it->second[i] = value(rows[i], k, sd != 0);
      }
    }
  }
  py::dict arrays;
  for (const auto& n : names) arrays[py::str(n)] = py::array_t<double>(static_cast<py::ssize_t>(rows.size()), columns[n].data());
  return py::make_tuple(groups, levels, names, arrays);
}

/// Rows lo..hi-1 (in random_effects() order) of the ranef table, or of the coef table, of `model`
/// at its current θ, visited level by level (lmm.dask's Dask DataFrames of ranef and coef).
py::tuple level_rows(const LinearMixedModel& model, std::size_t lo, std::size_t hi, bool coef) {
  std::vector<RandomEffectLevel> ranef;
  std::vector<LevelCoefficients> co;
  {
    py::gil_scoped_release release;
    std::size_t i = 0;
    for_each_level(model, [&](const RandomEffectLevel& r, const LevelCoefficients& c) {
      if (i >= lo && i < hi) {
        if (coef)
          co.push_back(c);
        else
          ranef.push_back(r);
      }
      ++i;
    });
  }
  if (coef) return level_table(co, false, [](const LevelCoefficients& c, std::size_t k, bool) { return c.values[k]; });
  return level_table(ranef, true, [](const RandomEffectLevel& re, std::size_t k, bool sd) {
    return sd ? re.condsd[k] : re.mode[k];
  });
}

void run_confint(Model& m, const std::string& method, int nboot, std::uint64_t seed, int threads) {
  py::gil_scoped_release release;
  if (method == "profile") {
    m.fitted.result.confint_profile = profile_intervals(m.fitted.model);
  } else if (method == "boot") {
    BootstrapOptions o;
    o.replicates = nboot;
    o.seed = seed;
    o.threads = threads;
    m.fitted.result.bootstrap = bootstrap(m.fitted.model, o);
  } else if (method != "wald") {
    throw Error("confint: method must be \"wald\", \"profile\" or \"boot\", got \"" + method + "\"");
  }
}

py::dict run_predict(const SavedModel& saved, const Table& data, const std::string& re_form,
                     const std::string& interval, double level) {
  PredictOptions o;
  if (re_form != "conditional" && re_form != "none")
    throw Error("predict: re_form must be None (conditional on the random effects) or \"none\", got \"" + re_form + "\"");
  o.re_form = re_form == "conditional" ? ReForm::Conditional : ReForm::Population;
  if (interval == "none") o.interval = IntervalKind::None;
  else if (interval == "confidence") o.interval = IntervalKind::Confidence;
  else if (interval == "prediction") o.interval = IntervalKind::Prediction;
  else throw Error("predict: interval must be None, \"confidence\" or \"prediction\", got \"" + interval + "\"");
  o.level = level;
  Predictions p;
  {
    py::gil_scoped_release release;
    p = predict(saved, *data.df, o);
  }
  py::dict out;
  out["fit"] = py::array_t<double>(static_cast<py::ssize_t>(p.fit.size()), p.fit.data());
  if (o.interval != IntervalKind::None) {
    out["se"] = py::array_t<double>(static_cast<py::ssize_t>(p.se.size()), p.se.data());
    out["lwr"] = py::array_t<double>(static_cast<py::ssize_t>(p.lower.size()), p.lower.data());
    out["upr"] = py::array_t<double>(static_cast<py::ssize_t>(p.upper.size()), p.upper.data());
  }
  out["notes"] = p.notes;
  return out;
}

py::tuple run_simulate(const Model& m, long long nsim, std::uint64_t seed) {
  if (nsim < 1 || nsim > 100000) throw Error("simulate: nsim must be between 1 and 100000 (got " + std::to_string(nsim) + ")");
  std::vector<std::vector<double>> sims;
  {
    py::gil_scoped_release release;
    Rng rng(seed);
    sims = simulate_responses(m.fitted.model, static_cast<std::size_t>(nsim), rng);
  }
  const auto& rows = m.fitted.model.frame().rows;
  const auto n = static_cast<py::ssize_t>(rows.size());
  py::array_t<double> values({n, static_cast<py::ssize_t>(sims.size())});
  auto v = values.mutable_unchecked<2>();
  for (std::size_t k = 0; k < sims.size(); ++k)
    for (py::ssize_t i = 0; i < n; ++i) v(i, static_cast<py::ssize_t>(k)) = sims[k][static_cast<std::size_t>(i)];
  std::vector<std::size_t> r(rows.begin(), rows.end());
  return py::make_tuple(values, r);
}

bool same_column(const Column& a, const Column& b) {
  auto same_numbers = [](const std::vector<double>& x, const std::vector<double>& y) {
    if (x.size() != y.size()) return false;
    for (std::size_t i = 0; i < x.size(); ++i)
      if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
    return true;
  };
  return a.name == b.name && a.type == b.type && same_numbers(a.numbers, b.numbers) && a.codes == b.codes &&
         a.levels == b.levels && a.text_codes == b.text_codes && a.text_levels == b.text_levels;
}

/// The same table: the same object, or the same columns and values (two fits of one DataFrame).
bool same_data(const DataFrame& a, const DataFrame& b) {
  if (&a == &b) return true;
  if (a.nrows != b.nrows || a.columns.size() != b.columns.size()) return false;
  for (std::size_t j = 0; j < a.columns.size(); ++j)
    if (!same_column(a.columns[j], b.columns[j])) return false;
  return true;
}

std::string run_compare(const std::vector<Model*>& models, bool reml, bool complete_cases) {
  if (models.size() < 2) throw Error("compare: give two or more models");
  std::vector<std::string> formulas;
  for (const Model* m : models) {
    if (!same_data(*m->data.df, *models.front()->data.df))
      throw Error("compare: the models must be fitted to the same data");
    formulas.push_back(m->formula);
  }
  CompareOptions o;
  o.reml = reml;
  o.complete_cases = complete_cases;
  o.frame = models.front()->options.frame;
  ModelComparison c;
  {
    py::gil_scoped_release release;
    c = compare_models(*models.front()->data.df, formulas, o);
  }
  std::ostringstream out;
  cli::JsonWriter w(out, -1);
  cli::write_comparison_json(w, c);
  w.flush();
  return out.str();
}

void write_report(const Model& m, const std::string& path, std::size_t max_persons) {
  report::PlotOptions po;
  po.max_persons = max_persons;
  std::string html;
  {
    py::gil_scoped_release release;
    html = cli::render_report_html(cli::report_document(m.data.df->source, m.fitted, *m.data.df, po));
  }
  write_file_atomically(path, html);
}

/// A fitted GLMM (lmm.fit(..., family=)) with the table it was fitted to.
struct GlmmModelPy {
  Table data;
  GlmmFitted fitted;
};

GlmmModelPy fit_glmm_model(const Table& data, const std::string& formula, const py::dict& kwargs,
                           const std::string& family, const std::string& link, int nagq) {
  const FitOptions fo = fit_options(kwargs);
  GlmmOptions o;
  o.family = parse_family(family);
  if (!link.empty()) o.link = parse_link(link);
  o.nagq = nagq;
  o.frame = fo.frame;
  py::gil_scoped_release release;
  return GlmmModelPy{data, fit_glmm(*data.df, formula, o)};
}

void bind_glmm(py::module_& mod) {
  py::class_<GlmmModelPy>(mod, "GlmmModel")
      .def("json", [](const GlmmModelPy& m, int indent) {
        std::ostringstream out;
        if (indent == 2) {
          cli::print_glmm_json(out, m.fitted);  // `lmm fit --family ... --json`, byte for byte
        } else {
          cli::JsonWriter w(out, indent);
          cli::write_glmm_json(w, m.fitted);
          w.flush();
        }
        return out.str();
      })
      .def("summary", [](const GlmmModelPy& m, const std::string& data_name) {
        return format_glmm_summary(m.fitted.result, data_name);
      });
  mod.def("fit_glmm", &fit_glmm_model);
}

void bind_table(py::module_& mod) {
  py::class_<Table>(mod, "Table")
      .def_static("from_columns", [](const py::list& cols, std::size_t nrows, const std::string& source) {
        return Table{std::make_shared<const DataFrame>(table_from_columns(cols, nrows, source))};
      })
      .def_static("read_csv", [](const std::string& path, const std::vector<std::string>& na_values) {
        ReadOptions o;
        o.na_values = na_values;
        return Table{std::make_shared<const DataFrame>(read_table(path, o))};
      })
      .def("columns", [](const Table& t) { return table_to_columns(*t.df); })
      .def_property_readonly("nrows", [](const Table& t) { return t.df->nrows; })
      .def_property_readonly("source", [](const Table& t) { return t.df->source; });
}

void bind_model(py::module_& mod) {
  py::class_<Model>(mod, "Model")
      .def("json", [](const Model& m, int indent) { return fit_json(m.fitted.result, indent); }, py::arg("indent") = 2)
      .def("summary", [](const Model& m, const std::string& data_name) {
        return format_summary(m.fitted.result, SummaryContext{data_name, {}});
      })
      .def("light_json", &light_json)
      .def("ranef_table", [](const Model& m) {
        return level_table(m.fitted.result.ranef, true, [](const RandomEffectLevel& re, std::size_t k, bool sd) {
          return sd ? re.condsd[k] : re.mode[k];
        });
      })
      .def("coef_table", [](const Model& m) {
        return level_table(m.fitted.result.coef, false,
                           [](const LevelCoefficients& c, std::size_t k, bool) { return c.values[k]; });
      })
      .def("level_groups", [](const Model& m) {  // grouping factors in the order of the level rows
        std::vector<std::pair<std::string, std::size_t>> out;
        for (const auto& t : m.fitted.model.frame().re)
          if (std::none_of(out.begin(), out.end(), [&](const auto& g) { return g.first == t.group; }))
            out.emplace_back(t.group, t.nlevels());
        return out;
      })
      .def("level_rows", [](const Model& m, std::size_t lo, std::size_t hi, bool coef) {
        return level_rows(m.fitted.model, lo, hi, coef);
      })
      .def("anova_text", [](const Model& m) { return format_anova(m.fitted.result); })
      .def("confint", &run_confint)
      .def("predict", [](Model& m, const Table& t, const std::string& re_form, const std::string& interval, double level) {
        return run_predict(m.snapshot_once(), t, re_form, interval, level);
      })
      .def("simulate", &run_simulate)
      .def("save", [](Model& m, const std::string& path) { cli::save_model(m.snapshot_once(), path); })
      .def("report", &write_report)
      .def("fitted", [](const Model& m) { return m.fitted.model.fitted(); })
      .def("residuals", [](const Model& m) { return m.fitted.model.residuals(); })
      .def("rows", [](const Model& m) { return m.fitted.model.frame().rows; })
      .def_property_readonly("formula", [](const Model& m) { return m.formula; })
      .def_property_readonly("table", [](const Model& m) { return m.data; });
  py::class_<SavedModel, std::shared_ptr<SavedModel>>(mod, "SavedModel")
      .def("predict", &run_predict)
      .def("simulate", [](const SavedModel& s, const Table& t, std::size_t nsim, std::uint64_t seed) {
        Rng rng(seed);
        return table_to_columns(simulate_from_saved(s, *t.df, nsim, rng));
      })
      .def("json", [](const SavedModel& s) { return cli::model_to_json(s).dump(2); })
      .def_property_readonly("formula", [](const SavedModel& s) { return s.frame.formula.text; });
}

/// Sufficient statistics for lmm.dask (python/lmm/dask.py): the schema from a sample, per-chunk
/// accumulation, merging and the binary form, and the fit from statistics as a Model.
struct SchemaPy {
  std::shared_ptr<const StatisticsSchema> schema;
};

void bind_statistics(py::module_& mod) {
  py::class_<SchemaPy>(mod, "StatisticsSchema")
      .def_property_readonly("shift", [](const SchemaPy& s) { return s.schema->shift; })
      .def_property_readonly("fingerprint", [](const SchemaPy& s) { return s.schema->fingerprint; });
  mod.def("make_schema", [](const Table& sample, const std::string& formula, const py::dict& kwargs,
                            const std::vector<double>& shift) {
    return SchemaPy{make_schema(*sample.df, formula, fit_options(kwargs).frame, shift)};
  });
  mod.def("sample_rows", [](const Table& t, const std::string& formula, std::size_t head_rows) {
    return SchemaSampler(formula, head_rows).select(*t.df);
  });
  py::class_<SufficientStatistics>(mod, "Statistics")
      .def(py::init([](const SchemaPy& s) { return SufficientStatistics(s.schema); }))
      .def("accumulate", [](SufficientStatistics& s, const Table& t) {
        py::gil_scoped_release release;
        s.accumulate(*t.df);
      })
      .def("merge", [](SufficientStatistics& s, const SufficientStatistics& o) { s.merge(o); })
      .def("serialize", [](const SufficientStatistics& s) { return py::bytes(s.serialize()); })
      .def_static("deserialize", [](const py::bytes& b, const SchemaPy& s) {
        return SufficientStatistics::deserialize(std::string_view(b), s.schema);
      })
      .def_property_readonly("nobs", &SufficientStatistics::nobs)
      .def_property_readonly("n_dropped", &SufficientStatistics::n_dropped);
  // The model the statistics make, at θ: its level rows lo..hi-1 (on a Dask worker).
  mod.def("statistics_level_rows", [](const SufficientStatistics& s, const py::dict& kwargs,
                                      const std::vector<double>& theta, std::size_t lo, std::size_t hi, bool coef) {
    const Method method = fit_options(kwargs).method;
    std::optional<LinearMixedModel> model;
    {
      py::gil_scoped_release release;
      model.emplace(make_model(s, method));
      model->set_theta(theta);
    }
    return level_rows(*model, lo, hi, coef);
  });
  mod.def("fit_statistics", [](const SufficientStatistics& s, const py::dict& kwargs) {
    FitOptions options = fit_options(kwargs);
    py::gil_scoped_release release;
    Fitted f = fit(s, options);
    return Model{Table{std::make_shared<const DataFrame>()}, s.schema().coding.formula.text, options, std::move(f), nullptr};
  });
}

}  // namespace

}  // namespace lmm::python

PYBIND11_MODULE(_lmm, mod) {
  namespace py = pybind11;
  using namespace lmm::python;
  mod.doc() = "The lmm engine (C++). Use the package `lmm`, not this module.";
  static py::exception<lmm::Error> error(mod, "Error", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const lmm::Error& e) {
      error(in_python_terms(e.what()).c_str());
    }
  });
  mod.attr("__version__") = LMM_VERSION;
  bind_table(mod);
  bind_model(mod);
  bind_glmm(mod);
  bind_statistics(mod);
  bind_power(mod);
  mod.def("fit", &fit_model);
  mod.def("compare", &run_compare);
  mod.def("load", [](const std::string& path) { return std::make_shared<lmm::SavedModel>(lmm::cli::load_model(path)); });
  mod.def("set_num_threads", &lmm::set_num_threads);
  mod.def("in_python_terms", &in_python_terms);
}
