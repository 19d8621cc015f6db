#include "report_terminal.hpp"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <string>
#include <vector>

#include "dtrack/units.hpp"
#include "report_colors.hpp"

namespace dtrack::cli {

namespace {

// Never dirtied, then the four quarters of the scale: the shades show it without colour.
const char* const shades[] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};

// Columns a label takes: its UTF-8 characters (region names come from the file).
size_t columns_of(const std::string& s) {
    return size_t(std::count_if(s.begin(), s.end(), [](char c) { return (uint8_t(c) & 0xC0) != 0x80; }));
}

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%" PRIx64, v);
    return b;
}

// Each row's label: where its first page lies.
std::vector<std::string> row_labels(const Analysis& a) {
    const Heatmap& h = a.heatmap;
    std::vector<std::string> labels;
    size_t segment = 0;
    for (uint32_t row = 0; row < h.rows; ++row) {
        const uint64_t axis = uint64_t(row) * h.pages_per_row;
        while (segment + 1 < h.segments.size() && h.segments[segment + 1].first_row_page <= axis) ++segment;
        const HeatSegment& s = h.segments[segment];
        labels.push_back(page_address(a.header, s.region, axis - s.first_row_page));
    }
    return labels;
}

// What the grid covers: the first and last address, a cell's bytes and time, and the scale.
void print_legend_head(const Analysis& a, bool color, std::FILE* out) {
    const Heatmap& h = a.heatmap;
    const HeatSegment &first = h.segments.front(), &last = h.segments.back();
    const Region &lo = a.header.regions[first.region], &hi = a.header.regions[last.region];
    const uint64_t last_byte = hi.base + (last.pages - 1) * hi.page_size + (hi.page_size - 1);
    const double intervals_per_column = double(a.intervals) / double(h.columns);
    std::fprintf(out, "heatmap: addresses %s (%s) to %s (%s), %s, low addresses on top\n", hex(lo.base).c_str(),
                 region_offset(a.header, first.region, 0).c_str(), hex(last_byte).c_str(),
                 region_offset(a.header, last.region, last.pages - 1).c_str(),
                 h.segments.size() > 1 ? "each region up to its last dirtied page" : "up to the last dirtied page");
    std::fprintf(out, "  a cell: %s of addresses (a row) over %.3g interval%s (a column, about %s); %s\n",
                 format_bytes(double(h.pages_per_row) * double(lo.page_size)).c_str(), intervals_per_column,
                 intervals_per_column == 1 ? "" : "s", seconds_text(intervals_per_column * a.mean_interval_s).c_str(),
                 color ? "colour: share of the cell's pages dirtied per interval"
                       : "shade: share of the cell's pages dirtied per interval");
}

// The scale under the grid, in the cells' own glyphs (coloured, or shaded without colour).
void print_scale(const Heatmap& h, bool color, size_t indent, std::FILE* out) {
    std::fprintf(out, "%*s  scale (square-root: a quarter of the way up is 1/16 of the most): %s never", int(indent),
                 "", color ? "blank" : "' '");
    for (int level = 1; level <= 4; ++level) {
        if (color) {
            const Rgb rgb = heat_color(level / 4.0);
            std::fprintf(out, ", \x1b[38;2;%d;%d;%dm\u2588\x1b[0m", int(rgb.r * 255), int(rgb.g * 255),
                         int(rgb.b * 255));
        } else {
            std::fprintf(out, ", %s", shades[level]);
        }
        std::fprintf(out, " up to %.3g%%", 100 * heat_share(level / 4.0, h.max_share));
    }
    std::fputs("\n", out);
}

void print_row(const Heatmap& h, uint32_t row, bool color, std::FILE* out) {
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

}  // namespace

bool terminal_wants_color(int fd) {
    const char* no_color = std::getenv("NO_COLOR");
    return ::isatty(fd) == 1 && (no_color == nullptr || *no_color == '\0');
}

void print_terminal_heatmap(const Analysis& a, bool color, std::FILE* out) {
    const Heatmap& h = a.heatmap;
    if (h.rows == 0 || h.columns == 0) {
        std::fprintf(out, "heatmap: no page was dirtied\n");
        return;
    }
    print_legend_head(a, color, out);
    const std::vector<std::string> labels = row_labels(a);
    size_t width = 0;
    for (const std::string& l : labels) width = std::max(width, columns_of(l));
    for (uint32_t row = 0; row < h.rows; ++row) {
        std::fprintf(out, "%*s%s |", int(width - columns_of(labels[row])), "", labels[row].c_str());
        print_row(h, row, color, out);
    }
    char right[32];
    std::snprintf(right, sizeof right, "%.1f s", a.duration_s);
    std::fprintf(out, "%*s  0 s%*s\n", int(width), "", int(std::max<size_t>(h.columns, 4) - 3), right);
    print_scale(h, color, width, out);
}

}  // namespace dtrack::cli
