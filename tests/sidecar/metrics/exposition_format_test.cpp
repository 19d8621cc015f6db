// The sidecar's exposition formats against exact expected text: what a
// Prometheus or OpenMetrics parser reads, byte for byte.
#include <gtest/gtest.h>

#include <limits>

#include "sidecar/metrics/exposition_format.hpp"

using namespace dtrack::cli::sidecar;

namespace {

std::vector<MetricFamily> a_counter_a_gauge_and_an_info() {
    return {
        {.name = "dtrack_dirty_pages",
         .type = MetricType::counter,
         .help = "Distinct pages dirtied.",
         .samples = {{{{"target", "vm1"}}, 123456}, {{{"target", "vm2"}}, 0}}},
        {.name = "dtrack_working_set_bytes",
         .type = MetricType::gauge,
         .help = "Working set.",
         .samples = {{{{"target", "vm1"}, {"window", "10s"}}, 4096}}},
        {.name = "dtrack_build", .type = MetricType::info, .help = "Build.", .samples = {{{{"version", "0.9.0"}}, 1}}},
        {.name = "process_cpu_seconds", .type = MetricType::counter, .help = "CPU.", .samples = {{{}, 0.25}}},
    };
}

TEST(ExpositionFormat, TheTextFormatNamesCountersWithTotalAndInfoAsAGauge) {
    EXPECT_EQ(render(a_counter_a_gauge_and_an_info(), ExpositionFormat::prometheus_text),
              "# HELP dtrack_dirty_pages_total Distinct pages dirtied.\n"
              "# TYPE dtrack_dirty_pages_total counter\n"
              "dtrack_dirty_pages_total{target=\"vm1\"} 123456\n"
              "dtrack_dirty_pages_total{target=\"vm2\"} 0\n"
              "# HELP dtrack_working_set_bytes Working set.\n"
              "# TYPE dtrack_working_set_bytes gauge\n"
              "dtrack_working_set_bytes{target=\"vm1\",window=\"10s\"} 4096\n"
              "# HELP dtrack_build_info Build.\n"
              "# TYPE dtrack_build_info gauge\n"
              "dtrack_build_info{version=\"0.9.0\"} 1\n"
              "# HELP process_cpu_seconds_total CPU.\n"
              "# TYPE process_cpu_seconds_total counter\n"
              "process_cpu_seconds_total 0.25\n");
}

TEST(ExpositionFormat, OpenMetricsNamesCounterFamiliesWithoutTotalHasInfoAndEndsWithEof) {
    EXPECT_EQ(render(a_counter_a_gauge_and_an_info(), ExpositionFormat::openmetrics),
              "# HELP dtrack_dirty_pages Distinct pages dirtied.\n"
              "# TYPE dtrack_dirty_pages counter\n"
              "dtrack_dirty_pages_total{target=\"vm1\"} 123456\n"
              "dtrack_dirty_pages_total{target=\"vm2\"} 0\n"
              "# HELP dtrack_working_set_bytes Working set.\n"
              "# TYPE dtrack_working_set_bytes gauge\n"
              "dtrack_working_set_bytes{target=\"vm1\",window=\"10s\"} 4096\n"
              "# HELP dtrack_build Build.\n"
              "# TYPE dtrack_build info\n"
              "dtrack_build_info{version=\"0.9.0\"} 1\n"
              "# HELP process_cpu_seconds CPU.\n"
              "# TYPE process_cpu_seconds counter\n"
              "process_cpu_seconds_total 0.25\n"
              "# EOF\n");
}

TEST(ExpositionFormat, LabelValuesEscapeBackslashQuoteAndNewline) {
    const std::vector<MetricFamily> f{{.name = "m",
                                       .type = MetricType::gauge,
                                       .help = "a \"quoted\" back\\slash\nand a newline",
                                       .samples = {{{{"comm", "a\\b\"c\nd"}}, 1}}}};
    EXPECT_EQ(render(f, ExpositionFormat::prometheus_text),
              "# HELP m a \"quoted\" back\\\\slash\\nand a newline\n"
              "# TYPE m gauge\n"
              "m{comm=\"a\\\\b\\\"c\\nd\"} 1\n");
    // OpenMetrics escapes the double quote in HELP too.
    EXPECT_EQ(render(f, ExpositionFormat::openmetrics),
              "# HELP m a \\\"quoted\\\" back\\\\slash\\nand a newline\n"
              "# TYPE m gauge\n"
              "m{comm=\"a\\\\b\\\"c\\nd\"} 1\n"
              "# EOF\n");
}

// One invalid byte makes Prometheus refuse the whole exposition, every
// target with it: a process named "vm\xff\xfe" (prctl) or a pid file named
// "tenant-\xc3(.pid" must not do that.
TEST(ExpositionFormat, InvalidUtf8InALabelBecomesTheReplacementCharacterAndValidUtf8StaysAsItIs) {
    const std::vector<MetricFamily> f{{.name = "m",
                                       .type = MetricType::gauge,
                                       .help = "h",
                                       .samples = {{{{"comm", "vm\xff\xfe"}}, 1},
                                                   {{{"target", "tenant-\xc3("}}, 2},
                                                   {{{"target", "caf\xc3\xa9-\xe6\x97\xa5-\xf0\x9f\x99\x82"}}, 3},
                                                   {{{"target", "over\xc0\xaf-sur\xed\xa0\x80-cut\xe6\x97"}}, 4}}}};
    const std::string text = render(f, ExpositionFormat::prometheus_text);
    EXPECT_NE(text.find("m{comm=\"vm\xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("m{target=\"tenant-\xEF\xBF\xBD(\"} 2\n"), std::string::npos) << text;
    EXPECT_NE(text.find("m{target=\"caf\xc3\xa9-\xe6\x97\xa5-\xf0\x9f\x99\x82\"} 3\n"), std::string::npos) << text;
    // Overlong forms, surrogates and a sequence cut short are invalid too, byte by byte.
    EXPECT_NE(text.find("m{target=\"over\xEF\xBF\xBD\xEF\xBF\xBD-sur\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD-cut"
                        "\xEF\xBF\xBD\xEF\xBF\xBD\"} 4\n"),
              std::string::npos)
        << text;
}

TEST(ExpositionFormat, AFamilyWithoutSeriesIsStillDescribed) {
    const std::vector<MetricFamily> f{{.name = "dtrack_ring_resets", .type = MetricType::counter, .help = "h"}};
    EXPECT_EQ(render(f, ExpositionFormat::prometheus_text),
              "# HELP dtrack_ring_resets_total h\n# TYPE dtrack_ring_resets_total counter\n");
}

TEST(ExpositionFormat, ValuesAreWrittenSoTheyReadBackExactly) {
    const std::vector<MetricFamily> f{{.name = "v",
                                       .type = MetricType::gauge,
                                       .help = "h",
                                       .samples = {{{{"i", "0"}}, 1234567.25},
                                                   {{{"i", "1"}}, 1e20},
                                                   {{{"i", "2"}}, -3},
                                                   {{{"i", "3"}}, 0.1},
                                                   {{{"i", "4"}}, std::numeric_limits<double>::infinity()},
                                                   {{{"i", "5"}}, std::numeric_limits<double>::quiet_NaN()}}}};
    EXPECT_EQ(render(f, ExpositionFormat::prometheus_text),
              "# HELP v h\n# TYPE v gauge\n"
              "v{i=\"0\"} 1234567.25\n"
              "v{i=\"1\"} 1e+20\n"
              "v{i=\"2\"} -3\n"
              "v{i=\"3\"} 0.1\n"
              "v{i=\"4\"} +Inf\n"
              "v{i=\"5\"} NaN\n");
}

TEST(ExpositionFormat, OpenMetricsOnlyWhenTheAcceptHeaderPrefersIt) {
    // What Prometheus sends (2.x, OpenMetrics enabled by default).
    EXPECT_EQ(negotiate_format("application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                               "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              ExpositionFormat::openmetrics);
    EXPECT_EQ(negotiate_format("application/openmetrics-text"), ExpositionFormat::openmetrics);
    EXPECT_EQ(negotiate_format("Application/OpenMetrics-Text; Version=1.0.0; charset=utf-8"),
              ExpositionFormat::openmetrics);
    // No header, curl's */*, the text format asked for, ranked above, or an
    // OpenMetrics version this sidecar does not write: the text format.
    EXPECT_EQ(negotiate_format(""), ExpositionFormat::prometheus_text);
    EXPECT_EQ(negotiate_format("*/*"), ExpositionFormat::prometheus_text);
    EXPECT_EQ(negotiate_format("text/plain;version=0.0.4"), ExpositionFormat::prometheus_text);
    EXPECT_EQ(negotiate_format("text/plain;q=1, application/openmetrics-text;q=0.5"),
              ExpositionFormat::prometheus_text);
    EXPECT_EQ(negotiate_format("application/openmetrics-text;version=0.0.1"), ExpositionFormat::prometheus_text);
    EXPECT_EQ(negotiate_format("application/openmetrics-text;q=0"), ExpositionFormat::prometheus_text);
    EXPECT_EQ(content_type(ExpositionFormat::openmetrics),
              "application/openmetrics-text; version=1.0.0; charset=utf-8");
    EXPECT_EQ(content_type(ExpositionFormat::prometheus_text), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace
