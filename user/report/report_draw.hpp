// dtrack report's pictures, drawn once with cairo and written as SVG or PNG
// (by the file name's extension): the heatmap, and the rate and working-set
// curves.
#pragma once

#include <string>

#include "dtrack/error.hpp"
#include "report_analysis.hpp"

namespace dtrack::cli {

// ".svg" or ".png", else an error naming both.
Status check_picture_name(const std::string& path, const std::string& option);

Status draw_heatmap(const Analysis& analysis, const std::string& path);
Status draw_plot(const Analysis& analysis, const std::string& path);

}  // namespace dtrack::cli
