#include "model_file.h"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "lmm/atomic_file.h"
#include "lmm/error.h"
#include "lmm/formula.h"
#include "lmm/model_frame.h"
#include "lmm/table_io.h"

namespace lmm::cli {

using nlohmann::json;

namespace {

const char* kind_name(Centering::Kind k) {
  switch (k) {
    case Centering::Kind::GrandMean:
      return "grand_mean";
    case Centering::Kind::AtValue:
      return "at_value";
    case Centering::Kind::PersonMean:
      return "person_mean";
  }
  return "";
}

// Chunks of `per` values each, one per level.
json chunks(const std::vector<double>& v, std::size_t per) {
  json out = json::array();
  for (std::size_t i = 0; per > 0 && i < v.size(); i += per)
    out.push_back(std::vector<double>(v.begin() + static_cast<std::ptrdiff_t>(i),
                                      v.begin() + static_cast<std::ptrdiff_t>(i + per)));
  return out;
}

// Reading with checks: every failure names the file and the key.
struct Reader {
  const std::string& source;

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(
        fmt::format("{}: '{}' {} (is this a model saved by `lmm fit --save`?)", source, key, what));
  }
  const json& at(const json& j, const std::string& key, const std::string& path) const {
    if (!j.is_object() || !j.contains(key)) fail(path + key, "is missing");
    return j.at(key);
  }
  double number(const json& j, const std::string& path) const {
    if (!j.is_number()) fail(path, "is not a number");
    const double x = j.get<double>();
    // 1e400 parses as infinity; no estimate lmm saves is infinite.
    if (!std::isfinite(x)) fail(path, "is not a finite number");
    return x;
  }
  std::size_t count(const json& j, const std::string& path) const {
    const double x = number(j, path);
    if (!(x >= 0 && x <= 9007199254740992.0 && x == std::floor(x)))
      fail(path, "is not a count (a whole number >= 0)");
    return static_cast<std::size_t>(x);
  }
  std::string string(const json& j, const std::string& path) const {
    if (!j.is_string()) fail(path, "is not a string");
    return j.get<std::string>();
  }
  std::vector<double> numbers(const json& j, const std::string& path, std::size_t expected) const {
    if (!j.is_array()) fail(path, "is not an array of numbers");
    std::vector<double> v;
    for (const auto& e : j) v.push_back(number(e, path));
    if (v.size() != expected)
      fail(path, fmt::format("has {} values where {} are expected", v.size(), expected));
    return v;
  }
  std::vector<std::string> strings(const json& j, const std::string& path) const {
    if (!j.is_array()) fail(path, "is not an array of strings");
    std::vector<std::string> v;
    for (const auto& e : j) v.push_back(string(e, path));
    return v;
  }
  std::vector<double> flat(const json& j, const std::string& path, std::size_t levels,
                           std::size_t per) const {
    if (!j.is_array() || j.size() != levels)
      fail(path, fmt::format("does not have one entry per level ({})", levels));
    std::vector<double> v;
    v.reserve(levels * per);
    for (std::size_t l = 0; l < levels; ++l) {
      const auto part = numbers(j[l], path, per);
      v.insert(v.end(), part.begin(), part.end());
    }
    return v;
  }
};

// The saved coding (fixed_names, factors, random terms) must be what the saved formula makes, or
// predict and simulate would index estimates that are not there: the formula is applied to an
// empty table with every variable it uses, which rebuilds the column names without any rows.
SavedModel read_model(const json& j, const std::string& source);

void check_coding(const SavedModel& m, const Reader& r) {
  const Formula& f = m.frame.formula;
  if (f.random.size() != m.frame.re.size())
    r.fail("random", fmt::format("has {} terms where the formula '{}' has {}", m.frame.re.size(),
                                 f.text, f.random.size()));
  DataFrame probe;
  probe.source = r.source;
  auto add = [&](const std::vector<std::string>& vars) {
    for (const std::string& v : vars)
      if (!probe.find(v)) probe.columns.push_back(numeric_column(v, {}));
  };
  for (const Term& t : f.fixed)
    for (const Expr& e : t.factors) add(e.variables());
  for (const Expr& e : f.offsets) add(e.variables());  // offset(x): predictions add it
  if (!m.frame.offset_column.empty()) add({m.frame.offset_column});
  for (const RandomTerm& rt : f.random) {
    add(rt.grouping);
    for (const Term& t : rt.terms)
      for (const Expr& e : t.factors) add(e.variables());
  }
  try {
    (void)model_frame_for_new_data(m.frame, probe);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: the saved model does not match its formula '{}': {}", r.source,
                            f.text, e.what()));
  }
}

}  // namespace

json model_to_json(const SavedModel& m) {
  json j;
  j["format"] = kModelFormat;
  j["format_version"] = kModelFormatVersion;
  j["lmm_version"] = m.lmm_version;
  j["data"] = {{"source", m.data_source}, {"hash", m.data_hash}, {"nobs", m.nobs}};
  j["formula"] = m.frame.formula.text;
  json centering = json::array();
  for (const Centering& c : m.centering) {
    json e{{"kind", kind_name(c.kind)}, {"variable", c.variable}};
    if (c.kind == Centering::Kind::PersonMean) {
      e["group"] = c.group;
      json means = json::object();
      for (const auto& [k, v] : c.person_means) means[k] = v;
      e["person_means"] = means;
    } else {
      e["value"] = c.value;
    }
    centering.push_back(e);
  }
  j["options"] = {{"method", m.method == Method::REML ? "REML" : "ML"}, {"centering", centering}};
  if (!m.family.empty()) j["options"]["family"] = m.family, j["options"]["link"] = m.link;  // a GLMM
  j["response"] = m.frame.response;
  j["fixed_names"] = m.frame.fixed_names;
  j["aliased"] = m.frame.aliased;
  if (!m.frame.offset_column.empty()) j["offset"] = m.frame.offset_column;  // predictions need it
  if (!m.frame.weights_column.empty()) j["weights"] = m.frame.weights_column;
  json factors = json::array();
  for (const auto& f : m.frame.factors)
    factors.push_back({{"expr", f.expr}, {"levels", f.levels}, {"contrasts", contrasts_name(f.contrasts)},
                       {"ordered", f.ordered}});
  j["factors"] = factors;
  json transforms = json::array();
  for (const auto& t : m.frame.transforms)
    transforms.push_back({{"expr", t.expr}, {"center", t.center}, {"scale", t.scale}, {"alpha", t.alpha},
                          {"norm2", t.norm2}});
  j["transforms"] = transforms;
  j["beta"] = m.beta;
  j["vcov"] = chunks(m.vcov, m.beta.size());
  j["theta"] = m.theta;
  j["sigma"] = m.sigma;
  json random = json::array();
  const std::size_t p = m.beta.size();
  for (std::size_t k = 0; k < m.frame.re.size(); ++k) {
    const ReTermData& t = m.frame.re[k];
    const auto q = static_cast<std::size_t>(t.q());
    const auto& e = m.re[k];
    random.push_back({{"group", t.group},
                      {"names", t.names},
                      {"lambda", m.lambda[k]},
                      {"levels", t.levels},
                      {"b", chunks(e.b, q)},
                      {"condvar", chunks(e.condvar, q * q)},
                      {"pe_cov", chunks(e.pe_cov, q * q)},
                      {"pe_cross", chunks(e.pe_cross, q * p)}});
  }
  j["random"] = random;
  if (const ResidualData& rd = m.frame.residual; rd.any()) {  // the structure at its estimates
    const ResidualOptions& o = rd.options;
    j["residual"] = {{"structure", o.structure}, {"time", o.time},         {"group", o.group},
                     {"sd_by", o.sd_by},         {"value", o.value},       {"visit_levels", rd.visit_levels},
                     {"sd_levels", rd.sd_levels}};
  }
  return j;
}

SavedModel model_from_json(const json& j, const std::string& source) {
  try {
    return read_model(j, source);
  } catch (const Error& e) {
    // Names, levels and the formula come from the file and may hold line breaks: one line.
    std::string what = e.what();
    for (std::size_t i = 0; (i = what.find('\n', i)) != std::string::npos;) what.replace(i, 1, "\\x0a");
    throw Error(what);
  }
}

namespace {

// Contrasts and ordering (absent in files saved before they existed: treatment, unordered).
void read_factor_contrasts(const json& f, const Reader& r, FactorCoding& c) {
  if (f.contains("contrasts")) {
    const std::string name = r.string(f["contrasts"], "factors[" + c.expr + "].contrasts");
    try {
      c.contrasts = parse_contrasts(name);
    } catch (const Error&) {
      r.fail("factors[" + c.expr + "].contrasts", "is not contr.treatment, contr.sum, contr.helmert or contr.poly");
    }
  }
  if (f.contains("ordered")) {
    if (!f["ordered"].is_boolean()) r.fail("factors[" + c.expr + "].ordered", "is not true or false");
    c.ordered = f["ordered"].get<bool>();
  }
}

// The coefficients of scale() and poly() (absent in older files, whose formulas have neither).
void read_transforms(const json& j, const Reader& r, std::vector<TransformCoding>& out) {
  if (!j.contains("transforms")) return;
  const json& ts = j["transforms"];
  if (!ts.is_array()) r.fail("transforms", "is not an array");
  for (const auto& t : ts) {
    TransformCoding c;
    c.expr = r.string(r.at(t, "expr", "transforms[]."), "transforms[].expr");
    const std::string path = "transforms[" + c.expr + "].";
    c.center = r.number(r.at(t, "center", path), path + "center");
    c.scale = r.number(r.at(t, "scale", path), path + "scale");
    const json& alpha = r.at(t, "alpha", path);
    const json& norm2 = r.at(t, "norm2", path);
    if (!alpha.is_array() || !norm2.is_array()) r.fail(path + "alpha", "is not an array");
    c.alpha = r.numbers(alpha, path + "alpha", alpha.size());
    c.norm2 = r.numbers(norm2, path + "norm2", norm2.size());
    if (!c.alpha.empty() && c.norm2.size() != c.alpha.size() + 2)
      r.fail(path + "norm2", "does not have 2 more values than alpha");
    for (std::size_t k = 1; k < c.norm2.size(); ++k)
      if (!(c.norm2[k] > 0)) r.fail(path + "norm2", "has a value that is not positive");
    if (!(c.scale > 0)) r.fail(path + "scale", "is not positive");
    out.push_back(std::move(c));
  }
}

// One entry of options.centering[].
Centering read_centering(const json& c, const Reader& r) {
  Centering ce;
  const std::string kind =
      r.string(r.at(c, "kind", "options.centering[]."), "options.centering[].kind");
  ce.variable =
      r.string(r.at(c, "variable", "options.centering[]."), "options.centering[].variable");
  ce.computed = true;
  if (kind == "person_mean") {
    ce.kind = Centering::Kind::PersonMean;
    ce.group = r.string(r.at(c, "group", "options.centering[]."), "options.centering[].group");
    const json& means = r.at(c, "person_means", "options.centering[].");
    if (!means.is_object()) r.fail("options.centering[].person_means", "is not an object");
    for (const auto& [k, v] : means.items())
      ce.person_means[k] = r.number(v, "options.centering[].person_means");
  } else if (kind == "grand_mean" || kind == "at_value") {
    ce.kind = kind == "grand_mean" ? Centering::Kind::GrandMean : Centering::Kind::AtValue;
    ce.value = r.number(r.at(c, "value", "options.centering[]."), "options.centering[].value");
  } else {
    r.fail("options.centering[].kind", "is not grand_mean, at_value or person_mean");
  }
  return ce;
}

// The response, the fixed-effect columns and their coding, β, its covariance and σ into m.
void read_fixed_part(const json& j, const Reader& r, SavedModel& m) {
  m.frame.response = r.string(r.at(j, "response", ""), "response");
  m.frame.fixed_names = r.strings(r.at(j, "fixed_names", ""), "fixed_names");
  m.frame.aliased = r.strings(r.at(j, "aliased", ""), "aliased");
  if (j.contains("offset")) m.frame.offset_column = r.string(j.at("offset"), "offset");
  if (j.contains("weights")) m.frame.weights_column = r.string(j.at("weights"), "weights");
  const json& factors = r.at(j, "factors", "");
  if (!factors.is_array()) r.fail("factors", "is not an array");
  for (const auto& f : factors) {
    FactorCoding c{r.string(r.at(f, "expr", "factors[]."), "factors[].expr"), {}};
    c.levels = r.strings(r.at(f, "levels", "factors[]."), "factors[" + c.expr + "].levels");
    if (c.levels.empty()) r.fail("factors[" + c.expr + "].levels", "is empty");
    read_factor_contrasts(f, r, c);
    m.frame.factors.push_back(std::move(c));
  }
  read_transforms(j, r, m.frame.transforms);
  const std::size_t p = m.frame.fixed_names.size();
  m.beta = r.numbers(r.at(j, "beta", ""), "beta", p);
  m.vcov = r.flat(r.at(j, "vcov", ""), "vcov", p, p);
  m.sigma = r.number(r.at(j, "sigma", ""), "sigma");
  if (!(m.sigma > 0)) r.fail("sigma", "is not positive");
}

// The random-effects terms (names, levels, Λ and the per-level estimates) into m; returns the
// length θ must have.
std::size_t read_random_terms(const json& random, const Reader& r, SavedModel& m) {
  const std::size_t p = m.frame.fixed_names.size();
  if (!random.is_array() || random.empty()) r.fail("random", "is not a non-empty array");
  std::size_t ntheta = 0;
  for (const auto& t : random) {
    ReTermData term;
    term.group = r.string(r.at(t, "group", "random[]."), "random[].group");
    const std::string path = "random[" + term.group + "].";
    term.names = r.strings(r.at(t, "names", path), path + "names");
    term.levels = r.strings(r.at(t, "levels", path), path + "levels");
    const auto q = static_cast<std::size_t>(term.q());
    const std::size_t L = term.levels.size();
    if (q == 0) r.fail(path + "names", "is empty");
    m.lambda.push_back(r.numbers(r.at(t, "lambda", path), path + "lambda", q * q));
    SavedModel::TermEstimates e;
    e.b = r.flat(r.at(t, "b", path), path + "b", L, q);
    e.condvar = r.flat(r.at(t, "condvar", path), path + "condvar", L, q * q);
    e.pe_cov = r.flat(r.at(t, "pe_cov", path), path + "pe_cov", L, q * q);
    e.pe_cross = r.flat(r.at(t, "pe_cross", path), path + "pe_cross", L, q * p);
    m.re.push_back(std::move(e));
    m.frame.re.push_back(std::move(term));
    ntheta += q * (q + 1) / 2;
  }
  return ntheta;
}

// The residual structure and its estimates (ResidualOptions::value, fixed), written when there is one.
void read_residual(const json& j, const Reader& r, ResidualData& rd) {
  ResidualOptions& o = rd.options;
  o.structure = r.string(r.at(j, "structure", "residual."), "residual.structure");
  o.time = r.string(r.at(j, "time", "residual."), "residual.time");
  o.group = r.string(r.at(j, "group", "residual."), "residual.group");
  o.sd_by = r.string(r.at(j, "sd_by", "residual."), "residual.sd_by");
  rd.visit_levels = r.strings(r.at(j, "visit_levels", "residual."), "residual.visit_levels");
  rd.sd_levels = r.strings(r.at(j, "sd_levels", "residual."), "residual.sd_levels");
  if (!o.structure.empty() && o.structure != "ar1" && o.structure != "car1" && o.structure != "cs" &&
      o.structure != "us")
    r.fail("residual.structure", "is not ar1, car1, cs or us");
  const std::size_t nv = rd.visit_levels.size();
  std::size_t n = o.structure == "us" ? nv * (nv - 1) / 2 : o.structure.empty() ? 0 : 1;
  if (!o.sd_by.empty()) n += rd.sd_levels.empty() ? 0 : rd.sd_levels.size() - 1;
  o.value = r.numbers(r.at(j, "value", "residual."), "residual.value", n);
  const std::size_t nstruct = n - (o.sd_by.empty() || rd.sd_levels.empty() ? 0 : rd.sd_levels.size() - 1);
  for (std::size_t k = 0; k < n; ++k) {
    const double v = o.value[k];
    const bool ok = k >= nstruct ? v > 0 : o.structure == "car1" ? v > 0 && v < 1 : v > -1 && v < 1;
    if (!ok) r.fail(fmt::format("residual.value[{}]", k), k >= nstruct ? "is not a positive SD ratio"
                                                                        : "is not a correlation inside its range");
  }
  o.fixed = true;
}

SavedModel read_model(const json& j, const std::string& source) {
  const Reader r{source};
  if (!j.is_object() || !j.contains("format") || j["format"] != kModelFormat)
    throw Error(source + ": not a model saved by `lmm fit --save` (no \"format\": \"lmm-model\")");
  const double version = r.number(r.at(j, "format_version", ""), "format_version");
  if (version != kModelFormatVersion)
    throw Error(fmt::format("{}: saved in model format version {}, this lmm reads version {}",
                            source, version, kModelFormatVersion));
  SavedModel m;
  m.lmm_version = r.string(r.at(j, "lmm_version", ""), "lmm_version");
  const json& data = r.at(j, "data", "");
  m.data_source = r.string(r.at(data, "source", "data."), "data.source");
  m.data_hash = r.string(r.at(data, "hash", "data."), "data.hash");
  m.nobs = r.count(r.at(data, "nobs", "data."), "data.nobs");
  const std::string formula = r.string(r.at(j, "formula", ""), "formula");
  try {
    m.frame.formula = parse_formula(formula);
  } catch (const Error& e) {
    // The first line: the message without the formula and caret display below it.
    const std::string what = e.what();
    throw Error(source + ": the saved formula does not parse: " + what.substr(0, what.find('\n')));
  }
  const json& opt = r.at(j, "options", "");
  const std::string method = r.string(r.at(opt, "method", "options."), "options.method");
  if (method != "REML" && method != "ML") r.fail("options.method", "is neither REML nor ML");
  m.method = method == "REML" ? Method::REML : Method::ML;
  if (opt.contains("family")) {  // a GLMM (lmm/glmm.h)
    m.family = r.string(opt.at("family"), "options.family");
    m.link = r.string(r.at(opt, "link", "options."), "options.link");
    if (m.family != "binomial" && m.family != "poisson") r.fail("options.family", "is neither binomial nor poisson");
  }
  const json& cent = r.at(opt, "centering", "options.");
  if (!cent.is_array()) r.fail("options.centering", "is not an array");
  for (const auto& c : cent) m.centering.push_back(read_centering(c, r));
  read_fixed_part(j, r, m);
  const std::size_t ntheta = read_random_terms(r.at(j, "random", ""), r, m);
  m.theta = r.numbers(r.at(j, "theta", ""), "theta", ntheta);
  if (j.contains("residual")) read_residual(j["residual"], r, m.frame.residual);
  if (const std::string w = check_estimates(m); !w.empty())
    throw Error(fmt::format("{}: the saved estimates are damaged: {} (is this a model saved by `lmm fit --save`?)",
                            r.source, w));
  check_coding(m, r);
  return m;
}

}  // namespace

void save_model(const SavedModel& m, const std::string& path) {
  write_file_atomically(path, model_to_json(m).dump(1) + "\n");
}

SavedModel load_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open the model file '" + path + "'");
  std::stringstream buf;
  buf << in.rdbuf();
  json j;
  try {
    j = json::parse(buf.str());
  } catch (const json::parse_error& e) {
    throw Error(fmt::format(
        "{}: not valid JSON (byte {}); is it a model saved by `lmm fit --save`?", path, e.byte));
  } catch (const json::exception& e) {
    // A number out of the double range (1e400) is out_of_range.406, not a parse_error.
    throw Error(fmt::format("{}: not a JSON file lmm can read ({}); is it a model saved by `lmm fit "
                            "--save`?",
                            path, e.what()));
  }
  return model_from_json(j, path);
}

}  // namespace lmm::cli
