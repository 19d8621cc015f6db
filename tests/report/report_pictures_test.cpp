// dtrack report's pictures say what they show: SVG text is text (<text>
// elements a reader can search and select, with the recording's own strings
// escaped), the heatmap's colour bar names its square-root scale and its
// ticks show it, and an estimate's bound is drawn as a band around it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "report_recordings.hpp"
#include "support/run_command.hpp"
#include "svg_document.hpp"

using dtrack_test::binary;
using dtrack_test::read_svg;
using dtrack_test::recording_with_lengths;
using dtrack_test::run;
using dtrack_test::Sampled;
using dtrack_test::SvgDocument;

namespace {

std::string temp(const std::string& name) { return ::testing::TempDir() + "/" + name; }

// The recording's pictures, read back: {heatmap, plot}.
std::pair<SvgDocument, SvgDocument> pictures_of(const std::string& file) {
    const std::string heat = temp("heat.svg"), plot = temp("plot.svg");
    const auto r = run(binary("dtrack") + " report " + file + " --heatmap " + heat + " --plot " + plot + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::pair<SvgDocument, SvgDocument> out{read_svg(heat), read_svg(plot)};
    std::remove(heat.c_str());
    std::remove(plot.c_str());
    return out;
}

bool has_text(const SvgDocument& d, const std::string& s) {
    const auto texts = d.texts();
    return std::find(texts.begin(), texts.end(), s) != texts.end();
}

// Paths filled with a translucent colour (cairo's SVG writes the fill in a style attribute).
size_t translucent_fills(const SvgDocument& d) {
    size_t n = 0;
    for (const auto& e : d.elements) {
        const auto style = e.attributes.find("style");
        n += e.name == "path" && style != e.attributes.end() &&
             style->second.find("fill-opacity:0.25") != std::string::npos;
    }
    return n;
}

TEST(ReportPictures, SvgTextIsTextElementsNotGlyphOutlines) {
    // The target, from the recording, holds XML's special characters, a
    // control character and a byte that is not UTF-8, which XML cannot hold.
    const std::string target = "pid 42 (qemu <vm1> & \"co\") \x01\xff";
    const std::string file = recording_with_lengths("text.dtz", std::vector<uint64_t>(30, 100), {}, target);
    const auto [heat, plot] = pictures_of(file);
    for (const SvgDocument* d : {&heat, &plot}) {
        ASSERT_EQ(d->error, "") << "not well-formed XML";
        EXPECT_EQ(d->count("symbol"), 0u) << "glyph outlines";  // cairo's glyphs are <symbol>s placed by <use>
        EXPECT_GT(d->count("text"), 10u);
    }
    EXPECT_TRUE(has_text(plot, "Dirty rate and working set"));
    EXPECT_TRUE(has_text(plot, "time since the recording started"));
    EXPECT_TRUE(has_text(heat, "Which memory is dirtied, and when"));
    const auto texts = plot.texts();
    const std::string shown = "pid 42 (qemu <vm1> & \"co\") \uFFFD\uFFFD";
    EXPECT_TRUE(std::any_of(texts.begin(), texts.end(), [&](const std::string& t) { return t.rfind(shown, 0) == 0; }))
        << "the subtitle starts with the target, as it was once parsed, the bytes XML cannot hold replaced";
    std::remove(file.c_str());
}

TEST(ReportPictures, TheHeatmapsColourBarNamesItsSquareRootScaleAndItsTicksShowIt) {
    const std::string file = recording_with_lengths("scale.dtz", std::vector<uint64_t>(30, 100));
    const SvgDocument heat = pictures_of(file).first;
    ASSERT_EQ(heat.error, "");
    EXPECT_TRUE(has_text(heat, "square-root scale")) << "the colour bar says its mapping";
    // The bar's five ticks, evenly spaced along it, read 0, 1/16, 1/4, 9/16
    // and all of the most dirtied share: the mapping, readable off the picture.
    std::vector<double> ticks;
    for (const std::string& t : heat.texts())
        if (!t.empty() && t.back() == '%') ticks.push_back(std::strtod(t.c_str(), nullptr));
    ASSERT_EQ(ticks.size(), 5u);
    std::sort(ticks.begin(), ticks.end());
    EXPECT_EQ(ticks[0], 0);
    EXPECT_NEAR(ticks[1] / ticks[4], 1.0 / 16, 0.002);
    EXPECT_NEAR(ticks[2] / ticks[4], 1.0 / 4, 0.002);
    EXPECT_NEAR(ticks[3] / ticks[4], 9.0 / 16, 0.002);
    std::remove(file.c_str());
}

TEST(ReportPictures, AnEstimatedRecordingsPlotDrawsItsBoundAsABand) {
    const std::string sampled = recording_with_lengths("sampled.dtz", std::vector<uint64_t>(30, 100), {.one_in = 4});
    const SvgDocument plot = pictures_of(sampled).second;
    ASSERT_EQ(plot.error, "");
    EXPECT_TRUE(has_text(plot, "its 95% interval")) << "the band's legend";
    EXPECT_GE(translucent_fills(plot), 2u) << "the band and its legend swatch";
    // An exact recording has no bound, and no band.
    const std::string exact = recording_with_lengths("exact.dtz", std::vector<uint64_t>(30, 100));
    const SvgDocument exact_plot = pictures_of(exact).second;
    EXPECT_FALSE(has_text(exact_plot, "its 95% interval"));
    EXPECT_EQ(translucent_fills(exact_plot), 0u);
    std::remove(sampled.c_str());
    std::remove(exact.c_str());
}

}  // namespace
