// lmm._lmm.power: lmm/power.h for Python (lmm.power() in python/lmm/_power.py makes the DataFrame).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <filesystem>
#include <string_view>
#include <utility>

#include "lmm/error.h"
#include "lmm/inference.h"
#include "lmm/power.h"
#include "lmm/table_io.h"
#include "table.h"
#include "wording.h"

namespace lmm::python {

namespace {

// The library names option fields; Python users know the keyword arguments.
constexpr std::pair<std::string_view, std::string_view> kPowerWording[] = {
    {"PowerOptions::", ""}, {"GrowthDesign::", ""}, {"power_from_model: ", ""},
    {"power_from_model", "model"},
};

py::dict curve_columns(const PowerResult& r) {
  std::vector<double> power, mc_se, lower, upper, sing, nonconv, est, df, secs;
  std::vector<std::size_t> persons;
  std::vector<int> nsim, failed, rejections;
  for (const PowerPoint& p : r.curve) {
    persons.push_back(p.persons);
    power.push_back(p.power);
    mc_se.push_back(p.mc_se);
    lower.push_back(p.lower);
    upper.push_back(p.upper);
    sing.push_back(p.singular_share);
    nonconv.push_back(p.nonconverged_share);
    est.push_back(p.mean_estimate);
    df.push_back(p.mean_df);
    secs.push_back(p.seconds);
    nsim.push_back(p.nsim);
    failed.push_back(p.failed);
    rejections.push_back(p.rejections);
  }
  py::dict c;
  c["persons"] = persons, c["power"] = power, c["mc_se"] = mc_se, c["lower"] = lower, c["upper"] = upper;
  c["singular_share"] = sing, c["nonconverged_share"] = nonconv, c["seconds"] = secs, c["nsim"] = nsim;
  c["rejections"] = rejections, c["failed"] = failed, c["mean_estimate"] = est, c["mean_df"] = df;
  return c;
}

// (curve columns, what was tested) for Python.
py::tuple result_for_python(const PowerResult& r) {
  py::dict meta;
  meta["test"] = r.test, meta["test_method"] = r.test_method, meta["formula"] = r.formula;
  meta["alpha"] = r.alpha, meta["level"] = r.level, meta["nsim"] = r.nsim, meta["seed"] = r.seed;
  meta["effect"] = r.effect, meta["threads"] = r.threads, meta["notes"] = r.notes;
  return py::make_tuple(curve_columns(r), meta);
}

PowerOptions power_options(const py::dict& o) {
  PowerOptions p;
  p.persons = o["persons"].cast<std::vector<std::size_t>>();
  p.nsim = o["nsim"].cast<int>();
  p.seed = o["seed"].cast<std::uint64_t>();
  p.alpha = o["alpha"].cast<double>();
  p.ddf = parse_ddf_method(o["ddf"].cast<std::string>());
  p.test = o["test"].cast<std::string>();
  p.effect = o["effect"].cast<double>();
  p.threads = o["threads"].cast<int>();
  p.lrt_mixture = o["lrt_mixture"].cast<bool>();
  return p;
}

template <class F>
py::tuple translated(F&& run) {
  try {
    PowerResult r;
    {
      py::gil_scoped_release release;
      r = run();
    }
    return result_for_python(r);
  } catch (const Error& e) {
    throw Error(cli::replace_phrases(e.what(), kPowerWording));
  }
}

py::tuple power_growth_py(const py::dict& design, const py::dict& options) {
  GrowthDesign d;
  d.waves = design["waves"].cast<std::vector<double>>();
  d.intercept = design["intercept"].cast<double>();
  d.slope = design["slope"].cast<double>();
  d.sd_intercept = design["sd_intercept"].cast<double>();
  d.sd_slope = design["sd_slope"].cast<double>();
  d.cor = design["cor"].cast<double>();
  d.sigma = design["sigma"].cast<double>();
  d.group_effect = design["group_effect"].cast<double>();
  d.dropout = design["dropout"].cast<double>();
  const PowerOptions o = power_options(options);
  return translated([&] { return power_growth(d, o); });
}

py::tuple power_model_py(const SavedModel& model, const py::object& columns, std::size_t nrows,
                         const py::dict& options) {
  DataFrame design;
  if (columns.is_none()) {
    if (model.data_source.empty() || !std::filesystem::is_regular_file(model.data_source))
      throw Error("power(model=...) needs data: the rows whose persons the studies repeat (the model's data file '" +
                  model.data_source + "' is not there)");
    design = read_table(model.data_source);
  } else {
    design = table_from_columns(columns.cast<py::list>(), nrows, "data");
  }
  const PowerOptions o = power_options(options);
  return translated([&] { return power_from_model(model, design, o); });
}

}  // namespace

void bind_power(py::module_& mod) {
  mod.def("power_growth", &power_growth_py);
  mod.def("power_model", &power_model_py);
}

}  // namespace lmm::python
