#include "lmm/reshape.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include "lmm/error.h"
#include "io/number_text.h"
#include "lmm/table_io.h"

namespace lmm {

namespace {

std::string where(const DataFrame& d) {
  return d.source.empty() ? std::string("the data") : d.source;
}

std::optional<double> parse_number(const std::string& s) {
  double v = 0;
  if (!detail::parse_number(s, v)) return std::nullopt;
  return v;
}

// A column of labels: numeric when every present label is a number, categorical otherwise.
Column column_from_labels(std::string name, const std::vector<std::optional<std::string>>& labels) {
  std::vector<double> nums(labels.size(), std::numeric_limits<double>::quiet_NaN());
  bool numeric = true;
  for (std::size_t i = 0; i < labels.size() && numeric; ++i) {
    if (!labels[i]) continue;
    const auto v = parse_number(*labels[i]);
    if (!v)
      numeric = false;
    else
      nums[i] = *v;
  }
  if (numeric) return numeric_column(std::move(name), std::move(nums));
  return categorical_column(std::move(name), labels);
}

std::optional<std::string> label(const Column& c, std::size_t row) {
  if (c.missing(row)) return std::nullopt;
  if (c.has_text()) return c.text_levels[static_cast<std::size_t>(c.text_codes[row])];
  if (c.is_numeric()) return format_double(c.numbers[row]);
  return c.levels[static_cast<std::size_t>(c.codes[row])];
}

// A column made of `rows` of `src` (row index -1 gives a missing value), keeping its type and
// levels.
Column gather(const Column& src, const std::vector<std::ptrdiff_t>& rows, std::string name) {
  Column c;
  c.name = std::move(name);
  c.type = src.type;
  if (src.is_numeric()) {
    c.numbers.reserve(rows.size());
    for (auto r : rows)
      c.numbers.push_back(r < 0 ? std::numeric_limits<double>::quiet_NaN()
                                : src.numbers[static_cast<std::size_t>(r)]);
    if (src.has_text()) {  // ids such as "007" keep their text
      c.text_levels = src.text_levels;
      for (auto r : rows) c.text_codes.push_back(r < 0 ? -1 : src.text_codes[static_cast<std::size_t>(r)]);
    }
  } else {
    c.levels = src.levels;
    c.codes.reserve(rows.size());
    for (auto r : rows) c.codes.push_back(r < 0 ? -1 : src.codes[static_cast<std::size_t>(r)]);
  }
  return c;
}

struct SplitPattern {
  std::string prefix, suffix;
};

SplitPattern split(const WidePattern& p) {
  const auto star = p.pattern.find('*');
  return {p.pattern.substr(0, star), p.pattern.substr(star + 1)};
}

void check_ids_unique(const DataFrame& d, const Column& id) {
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t r = 0; r < d.nrows; ++r) {
    const auto l = label(id, r);
    if (!l)
      throw Error(
          fmt::format("row {} of {} has no value in the id column '{}'", r + 1, where(d), id.name));
    const auto [it, fresh] = seen.emplace(*l, r);
    if (!fresh)
      throw Error(
          fmt::format("id '{}' appears in rows {} and {} of {}; wide data need one row per id", *l,
                      it->second + 1, r + 1, where(d)));
  }
}

}  // namespace

WidePattern parse_wide_pattern(const std::string& spec) {
  WidePattern p;
  const auto eq = spec.find('=');
  if (eq != std::string::npos) {
    p.name = spec.substr(0, eq);
    p.pattern = spec.substr(eq + 1);
  } else {
    p.pattern = spec;
  }
  if (std::count(p.pattern.begin(), p.pattern.end(), '*') != 1)
    throw Error(fmt::format("pattern '{}' needs exactly one '*' standing for the time, e.g. y_t*",
                            p.pattern));
  if (p.name.empty()) {
    std::size_t k = 0;
    while (k < p.pattern.size() &&
           (std::isalnum(static_cast<unsigned char>(p.pattern[k])) || p.pattern[k] == '.'))
      ++k;
    p.name = p.pattern.substr(0, k);
    while (!p.name.empty() && p.name.back() == '.') p.name.pop_back();
    if (p.name.empty())
      throw Error(fmt::format("cannot name the long column for pattern '{}'; write it as NAME={}",
                              p.pattern, p.pattern));
  }
  return p;
}

namespace {

// Which wide column holds pattern k at each time token, tokens in order of first appearance.
struct WideMatch {
  std::vector<std::string> tokens;
  std::vector<std::unordered_map<std::string, std::size_t>> cell;  // per pattern: token -> column
  std::vector<bool> matched;                                       // per wide column
};

// A pattern given as a list of columns (WidePattern::columns), paired with options.times.
void match_listed_columns(const DataFrame& wide, const WideToLongOptions& o, std::size_t k,
                          WideMatch& m) {
  if (o.patterns.size() != 1)
    throw Error("a WidePattern with columns must be the only one in WideToLongOptions::patterns");
  if (o.times.size() != o.patterns[k].columns.size())
    throw Error(fmt::format(
        "WidePattern::columns lists {} columns; WideToLongOptions::times must give as many time "
        "values (got {})",
        o.patterns[k].columns.size(), o.times.size()));
  for (const std::string& n : o.patterns[k].columns) {
    const Column& col = wide.at(n);
    const auto c = static_cast<std::size_t>(&col - wide.columns.data());
    if (n == o.id)
      throw Error(fmt::format("the id column '{}' cannot be one of WidePattern::columns", n));
    if (m.matched[c])
      throw Error(fmt::format("column '{}' is listed twice in WidePattern::columns", n));
    m.matched[c] = true;
    m.cell[k][n] = c;
    m.tokens.push_back(n);
  }
}

WideMatch match_wide_columns(const DataFrame& wide, const WideToLongOptions& o) {
  WideMatch m;
  m.cell.resize(o.patterns.size());
  m.matched.assign(wide.columns.size(), false);
  for (std::size_t k = 0; k < o.patterns.size(); ++k) {
    if (!o.patterns[k].columns.empty()) {
      match_listed_columns(wide, o, k, m);
      continue;
    }
    const SplitPattern sp = split(o.patterns[k]);
    for (std::size_t c = 0; c < wide.columns.size(); ++c) {
      const std::string& n = wide.columns[c].name;
      if (n == o.id || n.size() <= sp.prefix.size() + sp.suffix.size()) continue;
      if (n.compare(0, sp.prefix.size(), sp.prefix) != 0) continue;
      if (n.compare(n.size() - sp.suffix.size(), sp.suffix.size(), sp.suffix) != 0) continue;
      if (m.matched[c])
        throw Error(fmt::format(
            "column '{}' matches more than one pattern; make the patterns more specific", n));
      m.matched[c] = true;
      const std::string tok =
          n.substr(sp.prefix.size(), n.size() - sp.prefix.size() - sp.suffix.size());
      m.cell[k][tok] = c;
      if (std::find(m.tokens.begin(), m.tokens.end(), tok) == m.tokens.end())
        m.tokens.push_back(tok);
    }
    if (m.cell[k].empty())
      throw Error(fmt::format("pattern '{}' matches no column of {}; columns are: {}",
                              o.patterns[k].pattern, where(wide), fmt::join(wide.names(), ", ")));
  }
  return m;
}

}  // namespace

DataFrame wide_to_long(const DataFrame& wide, const WideToLongOptions& o) {
  if (o.id.empty()) throw Error("WideToLongOptions::id is empty: wide-to-long needs the id column");
  if (o.patterns.empty())
    throw Error("WideToLongOptions::patterns is empty: wide-to-long needs at least one variable");
  const Column& id = wide.at(o.id);
  check_ids_unique(wide, id);
  const WideMatch match = match_wide_columns(wide, o);
  const auto& tokens = match.tokens;
  const auto& cell = match.cell;
  const auto& matched = match.matched;
  std::vector<std::string> time_labels = tokens;
  if (!o.times.empty()) {
    if (o.times.size() != tokens.size())
      throw Error(fmt::format(
          "WideToLongOptions::times gives {} values but the patterns match {} times ({})",
                              o.times.size(), tokens.size(), fmt::join(tokens, ", ")));
    time_labels = o.times;
  }
  // Names of the long table's columns must not clash.
  std::set<std::string> names;
  std::vector<std::size_t> carried;
  for (std::size_t c = 0; c < wide.columns.size(); ++c)
    if (!matched[c]) {
      carried.push_back(c);
      names.insert(wide.columns[c].name);
    }
  if (!names.insert(o.time_name).second)
    throw Error(fmt::format(
        "the time column '{}' would clash with a column of the same name; choose another "
        "WideToLongOptions::time_name",
        o.time_name));
  for (const auto& p : o.patterns)
    if (!names.insert(p.name).second)
      throw Error(fmt::format(
          "the long column '{}' would clash with another column of that name; give the "
          "WidePattern another name",
          p.name));

  // Rows: id-major, times in column order.
  std::vector<std::ptrdiff_t> src_row;
  std::vector<std::optional<std::string>> time_col;
  std::vector<std::vector<std::optional<std::string>>> values(o.patterns.size());
  std::vector<std::vector<double>> numeric_values(o.patterns.size());
  std::vector<bool> numeric(o.patterns.size(), true);
  for (std::size_t k = 0; k < o.patterns.size(); ++k)
    for (const auto& [tok, c] : cell[k]) numeric[k] = numeric[k] && wide.columns[c].is_numeric();
  for (std::size_t r = 0; r < wide.nrows; ++r) {
    for (std::size_t t = 0; t < tokens.size(); ++t) {
      bool any = false;
      for (std::size_t k = 0; k < o.patterns.size(); ++k) {
        const auto it = cell[k].find(tokens[t]);
        if (it != cell[k].end() && !wide.columns[it->second].missing(r)) any = true;
      }
      if (o.drop_missing && !any) continue;
      src_row.push_back(static_cast<std::ptrdiff_t>(r));
      time_col.emplace_back(time_labels[t]);
      for (std::size_t k = 0; k < o.patterns.size(); ++k) {
        const auto it = cell[k].find(tokens[t]);
        const Column* c = it == cell[k].end() ? nullptr : &wide.columns[it->second];
        if (numeric[k])
          numeric_values[k].push_back(c ? c->numbers[r] : std::numeric_limits<double>::quiet_NaN());
        else
          values[k].push_back(c ? label(*c, r) : std::nullopt);
      }
    }
  }
  DataFrame out;
  out.nrows = src_row.size();
  out.source = where(wide) + " (long)";
  for (std::size_t c : carried)
    out.columns.push_back(gather(wide.columns[c], src_row, wide.columns[c].name));
  out.columns.push_back(column_from_labels(o.time_name, time_col));
  for (std::size_t k = 0; k < o.patterns.size(); ++k)
    out.columns.push_back(numeric[k]
                              ? numeric_column(o.patterns[k].name, std::move(numeric_values[k]))
                              : categorical_column(o.patterns[k].name, values[k]));
  return out;
}

namespace {

// The distinct labels of a column and, per row, the index of its label.
struct Labels {
  std::vector<std::string> labels;
  std::vector<std::size_t> row_index;
};

Labels index_ids(const DataFrame& d, const Column& id, const std::string& name) {
  Labels out;
  std::unordered_map<std::string, std::size_t> index;
  out.row_index.resize(d.nrows);
  for (std::size_t r = 0; r < d.nrows; ++r) {
    const auto l = label(id, r);
    if (!l)
      throw Error(
          fmt::format("row {} of {} has no value in the id column '{}'", r + 1, where(d), name));
    const auto [it, fresh] = index.emplace(*l, out.labels.size());
    if (fresh) out.labels.push_back(*l);
    out.row_index[r] = it->second;
  }
  return out;
}

// The times: sorted numerically for a numeric column, else in order of appearance.
std::pair<std::vector<std::string>, std::unordered_map<std::string, std::size_t>> index_times(
    const DataFrame& d, const Column& time, const std::string& name) {
  std::vector<std::string> times;
  std::vector<double> time_values;
  std::unordered_map<std::string, std::size_t> time_index;
  for (std::size_t r = 0; r < d.nrows; ++r) {
    const auto l = label(time, r);
    if (!l)
      throw Error(fmt::format("row {} of {} has no value in the time column '{}'", r + 1, where(d),
                              name));
    if (time_index.emplace(*l, times.size()).second) {
      times.push_back(*l);
      time_values.push_back(time.is_numeric() ? time.numbers[r] : 0.0);
    }
  }
  if (time.is_numeric()) {
    std::vector<std::size_t> order(times.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](auto a, auto b) { return time_values[a] < time_values[b]; });
    std::vector<std::string> sorted;
    for (auto i : order) sorted.push_back(times[i]);
    times = std::move(sorted);
    for (std::size_t i = 0; i < times.size(); ++i) time_index[times[i]] = i;
  }
  return {std::move(times), std::move(time_index)};
}

}  // namespace

DataFrame long_to_wide(const DataFrame& d, const LongToWideOptions& o) {
  if (o.id.empty()) throw Error("LongToWideOptions::id is empty: long-to-wide needs the id column");
  if (o.patterns.empty())
    throw Error("LongToWideOptions::patterns is empty: long-to-wide needs at least one variable");
  const Column& id = d.at(o.id);
  const Column& time = d.at(o.time);
  std::vector<const Column*> value_cols;
  for (const auto& p : o.patterns) {
    value_cols.push_back(&d.at(p.name));
    if (p.name == o.id || p.name == o.time)
      throw Error(fmt::format(
          "'{}' is the id or time column and cannot be spread into wide columns", p.name));
  }

  // Ids in order of first appearance; times sorted numerically (numeric time) or by appearance.
  const Labels id_labels = index_ids(d, id, o.id);
  const std::vector<std::string>& ids = id_labels.labels;
  const std::vector<std::size_t>& row_id = id_labels.row_index;
  auto [times, time_index] = index_times(d, time, o.time);
  // Which long row fills (id, time).
  std::vector<std::ptrdiff_t> at(ids.size() * times.size(), -1);
  for (std::size_t r = 0; r < d.nrows; ++r) {
    const std::size_t t = time_index.at(*label(time, r));
    auto& slot = at[row_id[r] * times.size() + t];
    if (slot >= 0)
      throw Error(fmt::format(
          "id '{}' has two rows for {} = {} (rows {} and {}); long-to-wide needs one row per id "
          "and time",
          ids[row_id[r]], o.time, times[t], slot + 1, r + 1));
    slot = static_cast<std::ptrdiff_t>(r);
  }

  DataFrame out;
  out.nrows = ids.size();
  out.source = where(d) + " (wide)";
  std::set<std::string> names;
  for (const Column& c : d.columns) {
    if (c.name == o.time) continue;
    if (std::any_of(o.patterns.begin(), o.patterns.end(),
                    [&](const WidePattern& p) { return p.name == c.name; }))
      continue;
    // Carried along: one value per id (missing values ignored), else an error.
    std::vector<std::ptrdiff_t> src(ids.size(), -1);
    for (std::size_t r = 0; r < d.nrows; ++r) {
      if (c.missing(r)) continue;
      auto& s = src[row_id[r]];
      if (s < 0) {
        s = static_cast<std::ptrdiff_t>(r);
      } else if (label(c, static_cast<std::size_t>(s)) != label(c, r)) {
        throw Error(fmt::format(
            "column '{}' varies within id '{}' ({} in row {}, {} in row {}); spread it with the "
            "pattern {}={}_* or leave it out",
            c.name, ids[row_id[r]], *label(c, static_cast<std::size_t>(s)), s + 1, *label(c, r),
            r + 1, c.name, c.name));
      }
    }
    names.insert(c.name);
    out.columns.push_back(gather(c, src, c.name));
  }
  for (std::size_t k = 0; k < o.patterns.size(); ++k) {
    const SplitPattern sp = split(o.patterns[k]);
    for (std::size_t t = 0; t < times.size(); ++t) {
      std::vector<std::ptrdiff_t> src(ids.size());
      for (std::size_t i = 0; i < ids.size(); ++i) src[i] = at[i * times.size() + t];
      const std::string name = sp.prefix + times[t] + sp.suffix;
      if (!names.insert(name).second)
        throw Error(fmt::format(
            "the wide column '{}' would clash with another column of that name; change the "
            "pattern '{}'",
            name, o.patterns[k].pattern));
      out.columns.push_back(gather(*value_cols[k], src, name));
    }
  }
  return out;
}

Centering parse_centering(const std::string& spec, bool person) {
  Centering c;
  if (person) {
    const auto colon = spec.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size())
      throw Error(
          fmt::format("a person-mean centering needs VARIABLE:ID (e.g. stress:id), got '{}'", spec));
    c.kind = Centering::Kind::PersonMean;
    c.variable = spec.substr(0, colon);
    c.group = spec.substr(colon + 1);
    return c;
  }
  const auto eq = spec.find('=');
  if (eq == std::string::npos) {
    if (spec.empty()) throw Error("a centering needs a variable name");
    c.kind = Centering::Kind::GrandMean;
    c.variable = spec;
    return c;
  }
  c.kind = Centering::Kind::AtValue;
  c.variable = spec.substr(0, eq);
  const auto v = parse_number(spec.substr(eq + 1));
  if (c.variable.empty() || !v || !std::isfinite(*v))
    throw Error(
        fmt::format("a centering needs VARIABLE or VARIABLE=NUMBER (e.g. time=2), got '{}'", spec));
  c.value = *v;
  c.computed = true;
  return c;
}

namespace {

Column& numeric_column_for_centering(DataFrame& data, const std::string& name, const char* what) {
  const Column& c = data.at(name);
  if (!c.is_numeric())
    throw Error(fmt::format("cannot {} '{}': it is categorical (values like '{}')", what, name,
                            c.levels.empty() ? std::string() : c.levels.front()));
  return const_cast<Column&>(c);
}

void set_column(DataFrame& data, Column col) {
  for (Column& c : data.columns)
    if (c.name == col.name) {
      c = std::move(col);
      return;
    }
  data.columns.push_back(std::move(col));
}

}  // namespace

void apply_centering(DataFrame& data, std::vector<Centering>& centerings) {
  for (Centering& ce : centerings) {
    switch (ce.kind) {
      case Centering::Kind::GrandMean:
      case Centering::Kind::AtValue: {
        Column& x = numeric_column_for_centering(data, ce.variable, "center");
        if (!ce.computed) {
          double s = 0;
          std::size_t n = 0;
          for (double v : x.numbers)
            if (!std::isnan(v)) {
              s += v;
              ++n;
            }
          if (n == 0) throw Error(fmt::format("cannot center '{}': it has no values", ce.variable));
          ce.value = s / static_cast<double>(n);
          ce.computed = true;
        }
        for (double& v : x.numbers) v -= ce.value;
        break;
      }
      case Centering::Kind::PersonMean: {
        const Column& x = numeric_column_for_centering(data, ce.variable, "person-mean center");
        const Column& g = data.at(ce.group);
        std::unordered_map<std::string, std::pair<double, std::size_t>> acc;
        for (std::size_t r = 0; r < data.nrows; ++r) {
          const auto l = label(g, r);
          if (!l || std::isnan(x.numbers[r])) continue;
          auto& a = acc[*l];
          a.first += x.numbers[r];
          ++a.second;
        }
        std::map<std::string, double> means;
        for (const auto& [k, a] : acc) means[k] = a.first / static_cast<double>(a.second);
        if (!ce.computed) {
          ce.person_means = means;
          ce.computed = true;
        }
        std::vector<double> between(data.nrows, std::numeric_limits<double>::quiet_NaN());
        std::vector<double> within(data.nrows, std::numeric_limits<double>::quiet_NaN());
        for (std::size_t r = 0; r < data.nrows; ++r) {
          const auto l = label(g, r);
          if (!l) continue;
          auto it = ce.person_means.find(*l);
          double m = std::numeric_limits<double>::quiet_NaN();
          if (it != ce.person_means.end()) {
            m = it->second;
          } else if (auto jt = means.find(*l); jt != means.end()) {
            m = jt->second;
          }
          between[r] = m;
          within[r] = x.numbers[r] - m;
        }
        set_column(data, numeric_column(ce.variable + "_between", std::move(between)));
        set_column(data, numeric_column(ce.variable + "_within", std::move(within)));
        break;
      }
    }
  }
}

}  // namespace lmm
