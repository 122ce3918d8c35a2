// The report's data as JSON: the fit exactly as `lmm fit --json` prints it, and the plots' values.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/report_data.h"

namespace lmm::cli {

nlohmann::json to_json(const report::PlotData& pd);
nlohmann::json to_json(const report::Shrinkage& sh);
nlohmann::json to_json(const report::Note& note);

/// {"lmm_version", "source", "fit": <lmm fit --json>, "plots": <PlotData>}: what the report page
/// and the explorer's "your data" view draw.
nlohmann::json report_document(const std::string& source, const Fitted& fitted, const DataFrame& data,
                               const report::PlotOptions& options = {});

/// The report page with `document` embedded (the template built from web/src/report.html).
std::string render_report_html(const nlohmann::json& document);

/// JSON text safe inside an HTML <script> element: every "<" is written \u003c.
std::string json_for_script(const nlohmann::json& j);

}  // namespace lmm::cli
