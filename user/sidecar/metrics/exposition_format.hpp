// Writing metric families out for a scraper: the Prometheus text format
// 0.0.4, or OpenMetrics 1.0.0 when the scraper's Accept header prefers it.
//
// The two differ where it matters to a parser: OpenMetrics names a counter's
// family without _total (# TYPE dtrack_dirty_pages counter, then the sample
// dtrack_dirty_pages_total), has an info type, escapes double quotes in HELP,
// and ends with "# EOF". The text format has no info type: an info family is
// a gauge named NAME_info there.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metric_family.hpp"

namespace dtrack::cli::sidecar {

enum class ExpositionFormat {
    prometheus_text,  // text/plain; version=0.0.4
    openmetrics,      // application/openmetrics-text; version=1.0.0
};

// The format for an Accept header: OpenMetrics when the header ranks
// application/openmetrics-text (version 1.0.0, or no version) at least as
// high as the text format, else the text format (also for no header).
ExpositionFormat negotiate_format(std::string_view accept_header);

// The Content-Type of a response in `format`.
std::string_view content_type(ExpositionFormat format);

// Every family with its # HELP and # TYPE lines, then its samples.
std::string render(const std::vector<MetricFamily>& families, ExpositionFormat format);

}  // namespace dtrack::cli::sidecar
