// A fitted model saved as JSON (`lmm fit ... --save model.json`) and read back for `lmm predict`
// and `lmm simulate --model`.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "lmm/predict.h"

namespace lmm::cli {

/// The file's format name and version, checked when reading.
inline constexpr const char* kModelFormat = "lmm-model";
inline constexpr int kModelFormatVersion = 1;

nlohmann::json model_to_json(const SavedModel& m);
/// Throws lmm::Error naming `source` and the key for a file that is not a saved model or is
/// damaged.
SavedModel model_from_json(const nlohmann::json& j, const std::string& source);

/// Writes atomically (temporary file, then rename).
void save_model(const SavedModel& m, const std::string& path);
SavedModel load_model(const std::string& path);

}  // namespace lmm::cli
