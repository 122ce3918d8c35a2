// The report's data as JSON: the fit exactly as `lmm fit --json` prints it, and the plots' values.
#pragma once
#include <string>
#include <string_view>

#include "json_writer.h"
#include "lmm/data.h"
#include "lmm/fit.h"
#include "lmm/glmm_report.h"
#include "lmm/report_data.h"

namespace lmm::cli {

void write_json(JsonWriter& w, const report::PlotData& pd);
void write_json(JsonWriter& w, const report::Shrinkage& sh);
void write_json(JsonWriter& w, const report::Note& note);

/// {"lmm_version", "source", "fit": <lmm fit --json>, "plots": <PlotData>} on one line: what the
/// report page and the explorer's "your data" view draw.
std::string report_document(const std::string& source, const Fitted& fitted, const DataFrame& data,
                            const report::PlotOptions& options = {});

/// The same for a GLMM: "fit" is `lmm fit --family ... --json`'s, "plots" the GlmmPlotData.
std::string glmm_report_document(const std::string& source, const GlmmFitted& fitted, const DataFrame& data,
                                 const report::PlotOptions& options = {});

/// `page` with its data marker (e.g. "/*LMM_REPORT_DATA*/null") replaced by `document` (JSON text),
/// made safe inside the page's <script> element (json_for_script).
std::string embed_in_page(std::string_view page, std::string_view marker, std::string_view document);

/// The report page with `document` (JSON text) embedded (the template built from web/src/report.html).
std::string render_report_html(std::string_view document);

/// JSON text made safe inside an HTML <script> element: every "<" is written \u003c.
std::string json_for_script(std::string_view json_text);

}  // namespace lmm::cli
