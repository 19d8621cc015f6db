// The heatmap as a few rows of shaded block characters, coloured when the
// output is a terminal.
#pragma once

#include <cstdio>

#include "report_analysis.hpp"

namespace dtrack::cli {

void print_terminal_heatmap(const Analysis& analysis, bool color, std::FILE* out);

}  // namespace dtrack::cli
