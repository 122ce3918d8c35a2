// The saved-model loader (cli/model_file.cpp) on damaged files: regression tests for what
// fuzz/fuzz_model.cpp found. Every damaged file gives one lmm::Error line naming the file and the
// key; a file that loads can be used by predict without indexing estimates that are not there.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "lmm/error.h"
#include "lmm/predict.h"
#include "lmm/table_io.h"
#include "model_file.h"

namespace {

using nlohmann::json;

// fuzz/corpus/model/sleepstudy_slope.json: a real `lmm fit --save` of the first 40 rows of
// sleepstudy with Reaction ~ Days + (Days | Subject).
json seed(const std::string& name) {
  std::ifstream in(std::filesystem::path(LMM_TEST_DATA) / ".." / ".." / "fuzz" / "corpus" / "model" / name);
  return json::parse(in);
}

std::string load_error(const json& j) {
  try {
    (void)lmm::cli::model_from_json(j, "m.json");
  } catch (const lmm::Error& e) {
    return e.what();
  }
  return "(loaded)";
}

void expect_error(const json& j, const std::string& part) {
  const std::string msg = load_error(j);
  EXPECT_EQ(msg.rfind("m.json: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(part), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
}

TEST(ModelFile, TheSeedsLoadAndPredict) {
  for (const char* name : {"sleepstudy_slope.json", "penicillin_crossed.json", "growth_factor.json",
                           "cake_factor_interaction.json", "growth_centered.json",
                           "growth_person_mean.json"}) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW((void)lmm::cli::model_from_json(seed(name), name));
  }
  const lmm::SavedModel m = lmm::cli::model_from_json(seed("sleepstudy_slope.json"), "s.json");
  lmm::DataFrame d;
  d.nrows = 1;
  d.columns.push_back(lmm::numeric_column("Days", {2}));
  lmm::PredictOptions o;
  o.re_form = lmm::ReForm::Population;
  // Population level: beta[0] + 2 beta[1].
  EXPECT_DOUBLE_EQ(lmm::predict(m, d, o).fit[0], m.beta[0] + 2 * m.beta[1]);
}

// A count stored as a double was cast to size_t unchecked (UB for -1 or 1e30).
TEST(ModelFile, NobsMustBeACount) {
  for (const json v : {json(-1), json(1e30), json(2.5)}) {
    json j = seed("sleepstudy_slope.json");
    j["data"]["nobs"] = v;
    expect_error(j, "'data.nobs' is not a count");
  }
}

// nlohmann::json throws out_of_range (not parse_error) for 1e400: that was "internal error", exit 3.
TEST(ModelFile, ANumberOutOfRangeIsAUserError) {
  std::string text = seed("sleepstudy_slope.json").dump();
  const auto at = text.find("\"sigma\":") + 8;
  text.replace(at, text.find_first_of(",}", at) - at, "1e400");
  const auto path = std::filesystem::temp_directory_path() / "lmm_model_file_test_1e400.json";
  std::ofstream(path) << text;
  try {
    (void)lmm::cli::load_model(path.string());
    ADD_FAILURE() << "loaded";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": not a JSON file lmm can read"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove(path);
}

// A number the loader is handed that is not finite (a json built in memory can hold one).
TEST(ModelFile, NumbersMustBeFinite) {
  json j = seed("sleepstudy_slope.json");
  j["sigma"] = std::numeric_limits<double>::infinity();
  expect_error(j, "'sigma' is not a finite number");
}

// A factor with no levels made the model frame read levels[0] of an empty vector.
TEST(ModelFile, FactorLevelsMustNotBeEmpty) {
  json j = seed("growth_factor.json");
  j["factors"][0]["levels"] = json::array();
  expect_error(j, "'factors[group].levels' is empty");
}

// Column names, terms and the formula that disagree made predict index estimates that are not
// there (or threw std::logic_error).
TEST(ModelFile, TheCodingMustBeWhatTheFormulaMakes) {
  json j = seed("growth_factor.json");
  j["fixed_names"][2] = "groupcontrol";
  expect_error(j, "the saved model does not match its formula 'y ~ time * group + (time | id)': "
                  "the fixed-effect column 'groupcontrol' (fixed_names) is not one the formula makes");
  j = seed("sleepstudy_slope.json");
  j["formula"] = "Reaction ~ Days + (1 | Subject)";
  expect_error(j, "the random-effects term for 'Subject' with columns (Intercept), Days "
                  "(random[Subject].names) is not one the formula makes");
  j = seed("sleepstudy_slope.json");
  j["formula"] = "Reaction ~ Days + (Days | Subject) + (1 | Days)";
  expect_error(j, "'random' has 1 terms where the formula");
  j = seed("penicillin_crossed.json");
  j["random"][1]["group"] = "plate";
  expect_error(j, "does not match its formula");
}

// Names come from the file: a line break in one must not make a second line.
TEST(ModelFile, MessagesStayOnOneLine) {
  json j = seed("sleepstudy_slope.json");
  j["fixed_names"][1] = "Da\nys";
  expect_error(j, "the fixed-effect column 'Da\\x0ays' (fixed_names)");
  j = seed("sleepstudy_slope.json");
  j["formula"] = "Reaction ~ (Days + (Days | Subject)";
  expect_error(j, "the saved formula does not parse");
}

// Estimates that no fit produces: predict would print NaN (a negative variance under a square
// root) or intervals from a matrix that is not a covariance.
TEST(ModelFile, EstimatesMustBeWhatAFitProduces) {
  json j = seed("sleepstudy_slope.json");
  j["vcov"][0][1] = j["vcov"][1][0].get<double>() * 2 + 1;
  expect_error(j, "the saved estimates are damaged: vcov is not symmetric");
  j = seed("sleepstudy_slope.json");
  j["vcov"][1][1] = -j["vcov"][1][1].get<double>();
  expect_error(j, "vcov has a negative eigenvalue");
  j = seed("sleepstudy_slope.json");
  j["random"][0]["pe_cov"][3][0] = -1.0;
  expect_error(j, "random[Subject].pe_cov of level '" + j["random"][0]["levels"][3].get<std::string>() +
                      "' has a negative eigenvalue");
  j = seed("sleepstudy_slope.json");
  j["random"][0]["condvar"][0][3] = -j["random"][0]["condvar"][0][3].get<double>() - 1;
  expect_error(j, "random[Subject].condvar of level");
  j = seed("sleepstudy_slope.json");
  j["theta"][1] = j["theta"][1].get<double>() + 0.5;
  expect_error(j, "theta[1]");
  j = seed("sleepstudy_slope.json");
  j["random"][0]["lambda"][2] = 0.25;  // column-major q x q: (0, 1), above the diagonal
  expect_error(j, "random[Subject].lambda is not lower triangular");
}

// Estimates so large that a prediction overflows: an error, not inf or NaN in the output.
TEST(ModelFile, OverflowIsAnError) {
  json j = seed("sleepstudy_slope.json");
  j["beta"] = {1e308, 1e308};
  const lmm::SavedModel m = lmm::cli::model_from_json(j, "m.json");
  lmm::DataFrame d;
  d.nrows = 1;
  d.columns.push_back(lmm::numeric_column("Days", {2}));
  lmm::PredictOptions o;
  o.re_form = lmm::ReForm::Population;
  try {
    (void)lmm::predict(m, d, o);
    ADD_FAILURE() << "no error";
  } catch (const lmm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("the prediction for row 1 overflows"), std::string::npos)
        << e.what();
  }
}

}  // namespace

// FNV-1a's published test vectors, and the file's hash read in blocks equals the hash of its bytes
// across block boundaries (3 MiB + 7 bytes against 1 MiB blocks).
TEST(ModelFile, DataHashIsFnv1aOfTheFileBytes) {
  EXPECT_EQ(lmm::data_hash(""), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(lmm::data_hash("a"), "fnv1a64:af63dc4c8601ec8c");
  EXPECT_EQ(lmm::data_hash("foobar"), "fnv1a64:85944171f73967e8");
  const auto path = std::filesystem::temp_directory_path() / "lmm_data_hash_test.bin";
  std::string bytes((std::size_t{3} << 20) + 7, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 2654435761u) >> 13);
  { std::ofstream(path, std::ios::binary) << bytes; }
  EXPECT_EQ(lmm::data_hash_of_file(path.string()), lmm::data_hash(bytes));
  std::filesystem::remove(path);
  EXPECT_EQ(lmm::data_hash_of_file(path.string()), lmm::data_hash(""));
}
