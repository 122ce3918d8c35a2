// libFuzzer target for the formula parser, and behind it the model frame and the engine: any input
// must either parse or throw lmm::Error with "formula: <what> at character N" and the caret
// display (three lines); a parsed formula must deparse to text that parses to the same formula;
// against a small fixed table, building the model frame and fitting must either work or throw
// lmm::Error, and a fit's summary must not print NaN.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "lmm/data.h"
#include "lmm/error.h"
#include "lmm/fit.h"
#include "lmm/formula.h"
#include "lmm/model_frame.h"

namespace {

[[noreturn]] void violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_formula: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// Columns named as in the tests' formulas, so that mutated seeds reach the model frame: numeric
// (one with zeros and negatives, one with a missing value) and categorical.
const lmm::DataFrame& table() {
  static const lmm::DataFrame df = [] {
    std::string s = "y,x,z,t,time,Days,Reaction,w,neg,g,h,id,Subject,group,a,b,f\n";
    for (int i = 0; i < 30; ++i) {
      const int g = i % 5, h = i % 3;
      s += std::to_string(1 + 0.37 * i + (i * 7 % 11) * 0.21 + g) + "," + std::to_string(i % 6) + "," +
           std::to_string((i * 13 % 7) * 0.5) + "," + std::to_string(i % 4) + "," + std::to_string(i / 5) + "," +
           std::to_string(i % 10) + "," + std::to_string(250 + 3 * i + (i * 5 % 9)) + "," +
           (i == 7 ? std::string("NA") : std::to_string(i * 0.1)) + "," + std::to_string(i % 5 - 2) + ",g" +
           std::to_string(g) + ",h" + std::to_string(h) + ",s" + std::to_string(i % 6) + ",S" +
           std::to_string(i % 5) + "," + (i % 2 ? "ctl" : "trt") + ",a" + std::to_string(i % 2) + ",b" +
           std::to_string(i % 3) + "," + std::to_string(i % 3 + 1) + "\n";
    }
    return lmm::parse_table(s, ',', "fuzz.csv");
  }();
  return df;
}

void check_error_shape(const lmm::Error& e, const std::string& text) {
  const std::string msg = e.what();
  if (msg.rfind("formula: ", 0) != 0) violated("parse error does not start with 'formula: '", msg);
  std::size_t lines = 1;
  for (char c : msg) lines += c == '\n';
  if (lines != 3) violated("parse error is not message + formula + caret", msg + "\ninput: " + text);
}

// The formula's terms, each with its factors sorted, sorted: equal for formulas with the same model.
std::vector<std::string> terms(const std::vector<lmm::Term>& ts) {
  std::vector<std::string> out;
  for (const lmm::Term& t : ts) {
    std::vector<std::string> f;
    for (const lmm::Expr& e : t.factors) f.push_back(e.label());
    std::sort(f.begin(), f.end());
    std::string s;
    for (const auto& x : f) s += x + ":";
    out.push_back(s);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> canonical(const lmm::Formula& f) {
  std::vector<std::string> out{f.response.label(), f.intercept ? "1" : "0"};
  for (const auto& t : terms(f.fixed)) out.push_back(t);
  std::vector<std::string> random;
  for (const lmm::RandomTerm& r : f.random) {
    std::vector<std::string> g = r.grouping;
    std::sort(g.begin(), g.end());
    std::string s = (r.intercept ? "1" : "0");
    for (const auto& t : terms(r.terms)) s += "+" + t;
    s += "|";
    for (const auto& x : g) s += x + ":";
    random.push_back(s);
  }
  std::sort(random.begin(), random.end());
  out.insert(out.end(), random.begin(), random.end());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  lmm::Formula f;
  try {
    f = lmm::parse_formula(text);
  } catch (const lmm::Error& e) {
    check_error_shape(e, text);
    return 0;
  }
  // deparse() is the normalised formula: it must parse, to the same terms. (Not always to the same
  // text: R orders the variables of an interaction by their first appearance in the formula, so
  // y ~ (a + b):c has the term b:c and its deparse y ~ 1 + a:c + b:c the term c:b, in R as here.)
  const std::string d = f.deparse();
  try {
    const lmm::Formula f2 = lmm::parse_formula(d);
    if (canonical(f2) != canonical(f))
      violated("deparse parses to other terms", "input: " + text + "\ndeparse: " + d + "\nagain: " + f2.deparse());
  } catch (const lmm::Error& e) {
    violated("deparse does not parse", "input: " + text + "\ndeparse: " + d + "\nerror: " + e.what());
  }

  try {
    lmm::ModelFrame frame = lmm::build_model_frame(table(), f);
    if (frame.p() > 12) return 0;
    lmm::LinearMixedModel model(std::move(frame));
    if (model.ntheta() > 10) return 0;
    (void)model.set_theta(model.theta_start());
    lmm::FitOptions opt;
    opt.max_evaluations = 60;
    const lmm::OptimizerSummary s = model.fit(opt);
    const lmm::FitResult r = lmm::summarize(model, s);
    // The summary echoes the formula, whose own text may spell "NaN" (a name in it that cancels out):
    // only what lmm computed counts.
    std::string out = lmm::format_summary(r);
    for (std::size_t at; !r.formula.empty() && (at = out.find(r.formula)) != std::string::npos;)
      out.erase(at, r.formula.size());
    if (out.find("nan") != std::string::npos || out.find("NaN") != std::string::npos)
      violated("the summary prints NaN", "input: " + text + "\n" + out);
  } catch (const lmm::Error& e) {
    if (std::string_view(e.what()).empty()) violated("empty error message", text);
  }
  return 0;
}
