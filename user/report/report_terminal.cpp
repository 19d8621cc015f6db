#include "report_terminal.hpp"

#include <string>

#include "dtrack/units.hpp"
#include "report_colors.hpp"

namespace dtrack::cli {

void print_terminal_heatmap(const Analysis& a, bool color, std::FILE* out) {
    const Heatmap& h = a.heatmap;
    if (h.rows == 0 || h.columns == 0) {
        std::fprintf(out, "heatmap: no page was dirtied\n");
        return;
    }
    static const char* shades[] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};
    std::fprintf(
        out, "heatmap: address (rows, %s each, low addresses on top) over time (columns); %s\n",
        format_bytes(double(h.pages_per_row) * double(a.header.regions[h.segments[0].region].page_size)).c_str(),
        color ? "colour and shade: share of the row's pages dirtied per interval"
              : "shade: share of the row's pages dirtied per interval");
    size_t segment = 0;
    for (uint32_t row = 0; row < h.rows; ++row) {
        const uint64_t axis = uint64_t(row) * h.pages_per_row;
        while (segment + 1 < h.segments.size() && h.segments[segment + 1].first_row_page <= axis) ++segment;
        const HeatSegment& s = h.segments[segment];
        std::fprintf(out, "%28s |", page_address(a.header, s.region, axis - s.first_row_page).c_str());
        for (uint32_t c = 0; c < h.columns; ++c) {
            const double x = heat_position(h.at(row, c), h.max_share);
            const int level = h.at(row, c) <= 0 ? 0 : 1 + std::min(3, int(x * 4));
            if (color) {
                const Rgb rgb = heat_color(x);
                std::fprintf(out, "\x1b[38;2;%d;%d;%dm%s", int(rgb.r * 255), int(rgb.g * 255), int(rgb.b * 255),
                             level ? "\u2588" : " ");
            } else {
                std::fputs(shades[level], out);
            }
        }
        std::fputs(color ? "\x1b[0m|\n" : "|\n", out);
    }
    const std::string left = "0 s", right = std::to_string(a.duration_s).substr(0, 5) + " s";
    std::fprintf(out, "%28s  %s%*s\n", "", left.c_str(), int(h.columns - left.size()), right.c_str());
    std::fprintf(out, "%28s  scale: blank never", "");
    for (int level = 1; level <= 4; ++level)
        std::fprintf(out, ", %s up to %.3g%%", shades[level], 100 * heat_share(level / 4.0, h.max_share));
    std::fputs("\n", out);
}

}  // namespace dtrack::cli
