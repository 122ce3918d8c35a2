// The report and explorer pages, with Vega, Vega-Lite and vega-embed inlined, compiled into `lmm`
// (generated at build time from web/src by scripts/embed_web.py).
#pragma once
#include <string_view>

namespace lmm::cli::web {

/// The report page; its data goes in place of the marker /*LMM_REPORT_DATA*/null.
std::string_view report_html();
/// The explorer's single page.
std::string_view explorer_html();
/// `lmm power --out`'s page; its data goes in place of the marker /*LMM_POWER_DATA*/null.
std::string_view power_html();

}  // namespace lmm::cli::web
