// The heatmap's colour scale, shared by the pictures and the terminal: dark
// blue-black for never, through purple and orange, to pale yellow for the
// hottest. Shares are shown on a square-root scale, so a band dirtied in 1%
// of the intervals is still visible next to one dirtied in all of them.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>

namespace dtrack::cli {

struct Rgb {
    double r, g, b;
};

// 0 <= x <= 1 along the scale.
inline Rgb heat_color(double x) {
    static constexpr std::array<Rgb, 5> stops = {
        {{0.05, 0.03, 0.12}, {0.33, 0.09, 0.47}, {0.75, 0.22, 0.35}, {0.98, 0.55, 0.12}, {0.99, 0.95, 0.62}}};
    x = std::clamp(x, 0.0, 1.0) * (stops.size() - 1);
    const size_t i = std::min<size_t>(size_t(x), stops.size() - 2);
    const double f = x - double(i);
    return {stops[i].r + f * (stops[i + 1].r - stops[i].r), stops[i].g + f * (stops[i + 1].g - stops[i].g),
            stops[i].b + f * (stops[i + 1].b - stops[i].b)};
}

// Where a share of `max` sits on the scale, and back.
inline double heat_position(double share, double max) {
    return max > 0 ? std::sqrt(std::clamp(share / max, 0.0, 1.0)) : 0;
}
inline double heat_share(double position, double max) { return position * position * max; }

}  // namespace dtrack::cli
