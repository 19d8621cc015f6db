// The sidecar's families for a target's ring events (metrics_registry.cpp):
// per vCPU full exits and the stuck vCPUs, present only where the figures are.
#include <gtest/gtest.h>

#include "sidecar/metrics/metrics_registry.hpp"

using namespace dtrack::cli::sidecar;

namespace {

const MetricFamily& family(const std::vector<MetricFamily>& families, const std::string& name) {
    for (const MetricFamily& f : families)
        if (f.name == name) return f;
    static const MetricFamily none;
    ADD_FAILURE() << name << " is not described";
    return none;
}

TEST(MetricsRegistry, ARingTargetHasFullExitsPerVcpuAndItsStuckVcpus) {
    TargetFigures ring{.target = "vm1"};
    ring.vcpu_ring_full_exits = {150000, 0, 7};
    ring.stuck_vcpus = 1;
    const std::vector<MetricFamily> families = metric_families({ring}, {});

    const MetricFamily& exits = family(families, "dtrack_vcpu_ring_full_exits");
    EXPECT_EQ(exits.type, MetricType::counter);
    ASSERT_EQ(exits.samples.size(), 3u);
    EXPECT_EQ(exits.samples[2].labels[1].name, "vcpu");
    EXPECT_EQ(exits.samples[2].labels[1].value, "2");
    EXPECT_EQ(exits.samples[0].value, 150000);
    const MetricFamily& stuck = family(families, "dtrack_stuck_vcpus");
    EXPECT_EQ(stuck.type, MetricType::gauge);
    ASSERT_EQ(stuck.samples.size(), 1u);
    EXPECT_EQ(stuck.samples[0].labels[0].value, "vm1");
    EXPECT_EQ(stuck.samples[0].value, 1);
}

TEST(MetricsRegistry, ATargetWithoutARingViewHasNoRingSeriesButTheFamiliesAreDescribed) {
    const std::vector<MetricFamily> families = metric_families({TargetFigures{.target = "sampled"}}, {});
    EXPECT_TRUE(family(families, "dtrack_vcpu_ring_full_exits").samples.empty());
    EXPECT_TRUE(family(families, "dtrack_stuck_vcpus").samples.empty());
}

}  // namespace

// --forecast-bandwidth: each target's precopy forecast, as dtrack rate's.
// Without the option no series; a forecast that does not converge says 0 and
// has no time or bytes (it would send for ever).
TEST(MetricsRegistry, TheForecastSeriesAreThereOnlyWithABandwidthAndTheFiguresOnlyWhereItConverges) {
    TargetFigures converging{.target = "calm"};
    converging.forecast =
        TargetFigures::PrecopyForecast{.converges = true, .total_s = 12.5, .bytes_per_guest_byte = 1.4};
    TargetFigures stuck{.target = "busy"};
    stuck.forecast = TargetFigures::PrecopyForecast{.converges = false};
    const TargetFigures off{.target = "no-bandwidth"};
    const std::vector<MetricFamily> families = metric_families({converging, stuck, off}, {});

    const MetricFamily& converges = family(families, "dtrack_forecast_converges");
    EXPECT_EQ(converges.type, MetricType::gauge);
    ASSERT_EQ(converges.samples.size(), 2u);
    EXPECT_EQ(converges.samples[0].labels[0].value, "calm");
    EXPECT_EQ(converges.samples[0].value, 1);
    EXPECT_EQ(converges.samples[1].labels[0].value, "busy");
    EXPECT_EQ(converges.samples[1].value, 0);
    for (const char* name : {"dtrack_forecast_seconds", "dtrack_forecast_bytes_per_guest_byte"}) {
        const MetricFamily& f = family(families, name);
        ASSERT_EQ(f.samples.size(), 1u) << name;
        EXPECT_EQ(f.samples[0].labels[0].value, "calm") << name;
    }
    EXPECT_EQ(family(families, "dtrack_forecast_seconds").samples[0].value, 12.5);
    EXPECT_EQ(family(families, "dtrack_forecast_bytes_per_guest_byte").samples[0].value, 1.4);
}
