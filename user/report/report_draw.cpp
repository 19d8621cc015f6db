#include "report_draw.hpp"

#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>

#include "dtrack/units.hpp"
#include "report_colors.hpp"
#include "report_svg_text.hpp"

namespace dtrack::cli {

namespace {

constexpr double width = 1100, height = 660;

bool ends_with(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Where text() puts an SVG's strings (report_svg_text.hpp): cairo user data on the context.
const cairo_user_data_key_t svg_texts_key{};

cairo_status_t append_to_string(void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
}

Status write_file(const std::string& path, const std::string& bytes) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    bool ok = f != nullptr && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
    const int error = errno;
    if (f != nullptr) ok = std::fclose(f) == 0 && ok;
    if (ok) return Ok{};
    return Error{error, "cannot write " + path + ": " + std::strerror(error),
                 "check the path and that its directory is writable"};
}

// One drawing, to SVG (cairo's shapes, and text() as <text> elements) or PNG.
Status render(const std::string& path, const std::function<void(cairo_t*)>& draw) {
    const bool svg = ends_with(path, ".svg");
    std::string document;
    SvgTexts texts;
    cairo_surface_t* surface = svg ? cairo_svg_surface_create_for_stream(append_to_string, &document, width, height)
                                   : cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(width), int(height));
    cairo_t* cr = cairo_create(surface);
    if (svg) cairo_set_user_data(cr, &svg_texts_key, &texts, nullptr);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    draw(cr);
    cairo_destroy(cr);
    cairo_status_t status = cairo_surface_status(surface);
    if (status == CAIRO_STATUS_SUCCESS && !svg) status = cairo_surface_write_to_png(surface, path.c_str());
    cairo_surface_finish(surface);
    if (status == CAIRO_STATUS_SUCCESS) status = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (status != CAIRO_STATUS_SUCCESS)
        return Error{EIO, "cannot write " + path + ": " + cairo_status_to_string(status),
                     "check the path and that its directory is writable"};
    return svg ? write_file(path, texts.insert_into(std::move(document))) : Ok{};
}

// `s` with its anchor at (x, y): align_x 0 it starts there, 0.5 centred, 1 it ends there.
void text(cairo_t* cr, double x, double y, const std::string& s, double size, double align_x = 0, double align_y = 0.5,
          bool bold = false) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_font_extents_t f;
    cairo_font_extents(cr, &f);
    // align_y: 0 the text hangs below y, 0.5 it is centred on y, 1 it sits on y.
    const double baseline = y + f.ascent * (1 - align_y) - f.descent * align_y;
    if (auto* svg = static_cast<SvgTexts*>(cairo_get_user_data(cr, &svg_texts_key))) {
        SvgTextItem item{.x = x, .y = baseline, .size = size, .anchor = align_x, .bold = bold};
        cairo_matrix_t m;
        cairo_get_matrix(cr, &m);
        std::copy_n(std::array{m.xx, m.yx, m.xy, m.yy, m.x0, m.y0}.begin(), 6, item.to_picture);
        if (cairo_pattern_get_rgba(cairo_get_source(cr), &item.r, &item.g, &item.b, &item.alpha) !=
            CAIRO_STATUS_SUCCESS)
            item.r = item.g = item.b = 0, item.alpha = 1;
        item.text = s;
        svg->add(std::move(item));
        return;
    }
    cairo_text_extents_t e;
    cairo_text_extents(cr, s.c_str(), &e);
    cairo_move_to(cr, x - align_x * e.x_advance, baseline);
    cairo_show_text(cr, s.c_str());
}

// A step of 1, 2 or 5 times a power of ten giving about `ticks` ticks over `span`.
double nice_step(double span, int ticks) {
    if (span <= 0) return 1;
    const double raw = span / ticks, p = std::pow(10, std::floor(std::log10(raw)));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * p >= raw) return m * p;
    return 10 * p;
}

std::string seconds_label(double s) {
    char b[32];
    std::snprintf(b, sizeof b, s == std::floor(s) ? "%.0f s" : "%.1f s", s);
    return b;
}

struct Box {
    double x, y, w, h;
};

// The time axis under `box`, 0 .. duration.
void time_axis(cairo_t* cr, const Box& box, double duration) {
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1);
    const double step = nice_step(duration, 8);
    for (double t = 0; t <= duration + 1e-9; t += step) {
        const double x = box.x + box.w * t / duration;
        cairo_move_to(cr, x, box.y + box.h);
        cairo_line_to(cr, x, box.y + box.h + 5);
        cairo_stroke(cr);
        text(cr, x, box.y + box.h + 16, seconds_label(t), 12, 0.5);
    }
    text(cr, box.x + box.w / 2, box.y + box.h + 36, "time since the recording started", 13, 0.5);
}

void title(cairo_t* cr, const Analysis& a, const std::string& what) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    text(cr, width / 2, 22, what, 18, 0.5, 0.5, true);
    char sub[512];
    std::snprintf(sub, sizeof sub, "%s, method %s (%s), %llu intervals (mean %s) over %.1f s%s",
                  a.header.target.c_str(), a.header.method.c_str(),
                  a.header.exact && !a.estimated ? "exact" : "estimated", (unsigned long long)a.intervals,
                  seconds_text(a.mean_interval_s).c_str(), a.duration_s,
                  a.dropped ? (", " + std::to_string(a.dropped) + " dropped").c_str() : "");
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    text(cr, width / 2, 44, sub, 12, 0.5);
}

// The heatmap's cells, one pixel each, scaled up without smoothing; low addresses at the bottom.
void draw_heat_cells(cairo_t* cr, const Heatmap& h, const Box& box) {
    cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, int(h.columns), int(h.rows));
    cairo_surface_flush(img);
    unsigned char* data = cairo_image_surface_get_data(img);
    const int stride = cairo_image_surface_get_stride(img);
    for (uint32_t row = 0; row < h.rows; ++row)
        for (uint32_t c = 0; c < h.columns; ++c) {
            const Rgb rgb = heat_color(heat_position(h.at(row, c), h.max_share));
            auto* px = reinterpret_cast<uint32_t*>(data + size_t(h.rows - 1 - row) * stride) + c;
            *px = uint32_t(rgb.r * 255) << 16 | uint32_t(rgb.g * 255) << 8 | uint32_t(rgb.b * 255);
        }
    cairo_surface_mark_dirty(img);
    cairo_save(cr);
    cairo_translate(cr, box.x, box.y);
    cairo_scale(cr, box.w / h.columns, box.h / h.rows);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
}

// The address axis: each region from its first page, ticks at round
// addresses (guest-physical) or offsets (host-virtual), names inside.
void draw_address_axis(cairo_t* cr, const Analysis& a, const Box& box) {
    const Heatmap& h = a.heatmap;
    const double axis_pages = double(h.rows) * double(h.pages_per_row);
    const auto y_of = [&](double axis_page) { return box.y + box.h - box.h * axis_page / axis_pages; };
    cairo_set_line_width(cr, 1);
    for (const HeatSegment& s : h.segments) {
        const Region& r = a.header.regions[s.region];
        const double y0 = y_of(double(s.first_row_page)), y1 = y_of(double(s.first_row_page + s.pages));
        if (s.first_row_page > 0) {
            cairo_set_source_rgb(cr, 1, 1, 1);
            cairo_move_to(cr, box.x - 8, y0);
            cairo_line_to(cr, box.x + box.w, y0);
            cairo_stroke(cr);
        }
        const double origin = r.space == AddressSpace::guest_physical ? double(r.base) : 0;
        const double bytes = double(s.pages) * double(r.page_size);
        const double mib = double(1 << 20);
        const double step = mib * nice_step(bytes / mib, std::max(1, int((y0 - y1) / 70)));
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        for (double v = std::ceil(origin / step) * step; v <= origin + bytes; v += step) {
            const double y = y_of(double(s.first_row_page) + (v - origin) / double(r.page_size));
            if (y0 - y < 12 && v > origin) continue;  // too close to the region's start
            if (y - y1 < 6) break;
            cairo_move_to(cr, box.x - 5, y);
            cairo_line_to(cr, box.x, y);
            cairo_stroke(cr);
            text(cr, box.x - 8, y, r.space == AddressSpace::guest_physical ? format_bytes(v) : "+" + format_bytes(v),
                 10, 1, 0.5);
        }
        if (y0 - y1 > 14) {  // the region's name, inside its band
            cairo_set_source_rgba(cr, 0, 0, 0, 0.55);
            cairo_rectangle(cr, box.x + 2, y0 - 17, 9 * double(r.name.size()) + 8, 15);
            cairo_fill(cr);
            cairo_set_source_rgb(cr, 1, 1, 1);
            text(cr, box.x + 6, y0 - 9, r.name, 11, 0, 0.5, true);
        }
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_save(cr);
    cairo_translate(cr, 16, box.y + box.h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0,
         a.header.regions[h.segments[0].region].space == AddressSpace::guest_physical
             ? "guest-physical address (each region up to its last dirtied page)"
             : "offset in each region (up to its last dirtied page)",
         13, 0.5);
    cairo_restore(cr);
}

// The colour scale, right of the heatmap's `box`: a colour bar whose ticks
// are the shares at even steps along it, so their uneven values show the
// square-root mapping (heat_position), which the label names too.
void draw_heat_scale(cairo_t* cr, const Analysis& a, const Box& box) {
    const Heatmap& h = a.heatmap;
    const Box bar{box.x + box.w + 40, box.y + 54, 22, box.h - 74};
    for (int i = 0; i < 200; ++i) {
        const Rgb rgb = heat_color(i / 199.0);
        cairo_set_source_rgb(cr, rgb.r, rgb.g, rgb.b);
        cairo_rectangle(cr, bar.x, bar.y + bar.h - (i + 1) * bar.h / 200, bar.w, bar.h / 200 + 0.5);
        cairo_fill(cr);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, bar.x - 10, bar.y - 48, "share of the band's pages", 11, 0, 0.5);
    text(cr, bar.x - 10, bar.y - 34, "dirtied per interval,", 11, 0, 0.5);
    text(cr, bar.x - 10, bar.y - 20, "square-root scale", 11, 0, 0.5, true);
    for (double pos : {0.0, 0.25, 0.5, 0.75, 1.0}) {
        const double y = bar.y + bar.h - pos * bar.h;
        char b[32];
        std::snprintf(b, sizeof b, "%.3g%%", 100 * heat_share(pos, h.max_share));
        cairo_move_to(cr, bar.x + bar.w, y);
        cairo_line_to(cr, bar.x + bar.w + 4, y);
        cairo_stroke(cr);
        text(cr, bar.x + bar.w + 7, y, b, 11);
    }
    char band[96];
    std::snprintf(
        band, sizeof band, "band: %s",
        format_bytes(double(h.pages_per_row) * double(a.header.regions[h.segments[0].region].page_size)).c_str());
    text(cr, bar.x - 10, bar.y + bar.h + 18, band, 11);
}

// The plot's drawing: its context, the analysis, and the time its x axes span.
struct PlotCanvas {
    cairo_t* cr;
    const Analysis& a;
    double duration;

    double x_of(const Box& b, double t) const { return b.x + b.w * t / duration; }
};

const Rgb palette[] = {{0.12, 0.47, 0.71}, {1.0, 0.5, 0.05},  {0.17, 0.63, 0.17},
                       {0.84, 0.15, 0.16}, {0.58, 0.4, 0.74}, {0.55, 0.34, 0.29}};

// A panel: frame, y ticks, label.
void panel(cairo_t* cr, const Box& b, double max, const std::string& label, const char* unit) {
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, b.x, b.y, b.w, b.h);
    cairo_stroke(cr);
    const double step = nice_step(max, 5);
    for (double v = 0; v <= max * 1.0001; v += step) {
        const double y = b.y + b.h - b.h * v / max;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, b.x, y);
        cairo_line_to(cr, b.x + b.w, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        char t[32];
        std::snprintf(t, sizeof t, step < 1 ? "%.1f%s" : "%.0f%s", v, unit);
        text(cr, b.x - 6, y, t, 11, 1);
    }
    cairo_save(cr);
    cairo_translate(cr, 22, b.y + b.h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text(cr, 0, 0, label, 13, 0.5);
    cairo_restore(cr);
}

void legend(cairo_t* cr, const Box& b, int i, const std::string& name, Rgb c, bool dashed = false) {
    const double x = b.x + 12 + 190 * i, y = b.y + 14;
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, 2.5);
    if (dashed) {
        const double d[] = {6, 4};
        cairo_set_dash(cr, d, 2, 0);
    }
    cairo_move_to(cr, x, y);
    cairo_line_to(cr, x + 24, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, x + 30, y, name, 12);
}

// A curve over the rate points, broken where an interval was dropped.
template <class Value>
void series(const PlotCanvas& pc, const Box& b, double max, Rgb c, double lw, Value value) {
    cairo_t* cr = pc.cr;
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    cairo_set_line_width(cr, lw);
    bool drawing = false;
    for (const RatePoint& p : pc.a.rate) {
        if (p.dropped) {
            drawing = false;
            continue;
        }
        const double x = pc.x_of(b, p.t - p.seconds / 2), y = b.y + b.h - b.h * value(p) / max;
        if (drawing) cairo_line_to(cr, x, y);
        else cairo_move_to(cr, x, y);
        drawing = true;
    }
    cairo_stroke(cr);
}

// A sampling method's 95% interval around its estimate, as a translucent
// band: one polygon per stretch of intervals that were not dropped.
void bound_band(const PlotCanvas& pc, const Box& b, double max, Rgb c) {
    cairo_t* cr = pc.cr;
    const auto y_of = [&](double rate) { return b.y + b.h - b.h * std::clamp(rate, 0.0, max) / max; };
    const std::vector<RatePoint>& rate = pc.a.rate;
    cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.25);
    for (size_t from = 0; from < rate.size();) {
        size_t to = from;
        while (to < rate.size() && !rate[to].dropped) ++to;
        for (size_t i = from; i < to; ++i) {
            const RatePoint& p = rate[i];
            const double x = pc.x_of(b, p.t - p.seconds / 2), y = y_of((p.pages + p.bound) / std::max(p.seconds, 1e-9));
            i == from ? cairo_move_to(cr, x, y) : cairo_line_to(cr, x, y);
        }
        for (size_t i = to; i-- > from;) {
            const RatePoint& p = rate[i];
            cairo_line_to(cr, pc.x_of(b, p.t - p.seconds / 2), y_of((p.pages - p.bound) / std::max(p.seconds, 1e-9)));
        }
        cairo_close_path(cr);
        cairo_fill(cr);
        from = to + 1;
    }
}

void legend_band(cairo_t* cr, const Box& b, int i, const std::string& name, Rgb c) {
    const double x = b.x + 12 + 190 * i, y = b.y + 14;
    cairo_set_source_rgba(cr, c.r, c.g, c.b, 0.25);
    cairo_rectangle(cr, x, y - 5, 24, 10);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    text(cr, x + 30, y, name, 12);
}

// Top: pages/s per interval, total and per vCPU, the estimate's bound as a
// band; dropped intervals greyed.
void draw_rate_panel(const PlotCanvas& pc, const Box& top) {
    cairo_t* cr = pc.cr;
    const Analysis& a = pc.a;
    double max_rate = 1;
    for (const RatePoint& p : a.rate)
        max_rate = std::max(max_rate, p.pages_per_s() + p.bound / std::max(p.seconds, 1e-9));
    max_rate *= 1.15;
    for (const RatePoint& p : a.rate)
        if (p.dropped) {
            cairo_set_source_rgb(cr, 0.85, 0.85, 0.85);
            cairo_rectangle(cr, pc.x_of(top, p.t - p.seconds), top.y, pc.x_of(top, p.t) - pc.x_of(top, p.t - p.seconds),
                            top.h);
            cairo_fill(cr);
        }
    panel(cr, top, max_rate, "dirty pages per second", "");
    bool bound = false;
    for (const RatePoint& p : a.rate) bound = bound || (!p.dropped && p.bound > 0);
    if (bound) bound_band(pc, top, max_rate, palette[0]);
    size_t vcpus = 0;
    for (const RatePoint& p : a.rate) vcpus = std::max(vcpus, p.vcpu_pages_per_s.size());
    for (size_t v = 0; v < vcpus && v < 5; ++v)
        series(pc, top, max_rate, palette[1 + v], 1.2,
               [v](const RatePoint& p) { return v < p.vcpu_pages_per_s.size() ? p.vcpu_pages_per_s[v] : 0.0; });
    series(pc, top, max_rate, palette[0], 2.2, [](const RatePoint& p) { return p.pages_per_s(); });
    legend(cr, top, 0, a.estimated ? "distinct pages (estimate)" : "distinct pages", palette[0]);
    if (bound) legend_band(cr, top, 1, "its 95% interval", palette[0]);
    for (size_t v = 0; v < vcpus && v + bound < 3; ++v)
        legend(cr, top, int(v + 1 + bound), "vCPU " + std::to_string(v) + " (ring entries)", palette[1 + v]);
}

// Bottom: working set over 1 s and 10 s windows (steps over each whole
// window's recorded span; a last window cut short is left out), and the whole run.
void draw_working_set_panel(const PlotCanvas& pc, const Box& bottom) {
    cairo_t* cr = pc.cr;
    const Analysis& a = pc.a;
    const double page = a.header.regions.empty() ? 4096 : double(a.header.regions[0].page_size);
    const double mib = page / (1 << 20);
    double max_ws = 1e-3;
    for (const WorkingSet& ws : a.working_sets) max_ws = std::max(max_ws, double(ws.max_pages) * mib);
    max_ws *= 1.25;
    panel(cr, bottom, max_ws, "working set (MiB)", "");
    int item = 0;
    for (const WorkingSet& ws : a.working_sets) {
        const Rgb c = palette[ws.whole_run ? 2 : ws.seconds == 1 ? 0 : 1];
        cairo_set_source_rgb(cr, c.r, c.g, c.b);
        cairo_set_line_width(cr, 2);
        if (ws.whole_run) {
            const double d[] = {6, 4};
            cairo_set_dash(cr, d, 2, 0);
        }
        bool drawing = false;  // text() leaves cairo a current point: not a start of this curve
        for (const Window& w : ws.windows) {
            if (!w.whole) continue;
            const double y = bottom.y + bottom.h - bottom.h * double(w.pages) * mib / max_ws;
            if (drawing) cairo_line_to(cr, pc.x_of(bottom, w.start_s), y);
            else cairo_move_to(cr, pc.x_of(bottom, w.start_s), y);
            cairo_line_to(cr, pc.x_of(bottom, w.end_s), y);
            drawing = true;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, nullptr, 0, 0);
        legend(cr, bottom, item++, ws.whole_run ? "whole run" : "per " + seconds_label(ws.seconds) + " window", c,
               ws.whole_run);
    }
}

}  // namespace

Status check_picture_name(const std::string& path, const std::string& option) {
    if (ends_with(path, ".svg") || ends_with(path, ".png")) return Ok{};
    return Error{EINVAL, option + " " + path + ": the picture's format comes from its name",
                 "end the name in .svg or .png"};
}

Status draw_heatmap(const Analysis& a, const std::string& path) {
    return render(path, [&](cairo_t* cr) {
        title(cr, a, "Which memory is dirtied, and when");
        const Box box{110, 70, width - 110 - 200, height - 70 - 60};
        if (a.heatmap.rows == 0) {
            text(cr, width / 2, height / 2, "no page was dirtied", 16, 0.5);
            return;
        }
        draw_heat_cells(cr, a.heatmap, box);
        draw_address_axis(cr, a, box);
        time_axis(cr, box, a.duration_s);
        draw_heat_scale(cr, a, box);
    });
}

Status draw_plot(const Analysis& a, const std::string& path) {
    return render(path, [&](cairo_t* cr) {
        title(cr, a, "Dirty rate and working set");
        const Box top{110, 80, width - 110 - 40, 230}, bottom{110, 370, width - 110 - 40, 220};
        const PlotCanvas pc{cr, a, std::max(a.duration_s, 1e-3)};
        draw_rate_panel(pc, top);
        draw_working_set_panel(pc, bottom);
        time_axis(cr, bottom, pc.duration);
    });
}

}  // namespace dtrack::cli
