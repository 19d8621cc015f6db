// The heatmap as a few rows of shaded block characters: coloured when the
// output is a terminal and NO_COLOR (https://no-color.org) is unset or
// empty, else in shades that show the scale by themselves. It says which
// addresses it covers, and what a cell and the scale are.
#pragma once

#include <cstdio>

#include "report_analysis.hpp"

namespace dtrack::cli {

// `fd` is a terminal and NO_COLOR does not ask for no colour.
bool terminal_wants_color(int fd);

void print_terminal_heatmap(const Analysis& analysis, bool color, std::FILE* out);

}  // namespace dtrack::cli
