// A target's own labels (target_labels.hpp): bounded, and shown on
// dtrack_target_info after the sidecar's labels, never in place of one.
#include <gtest/gtest.h>

#include <string>

#include "sidecar/metrics/exposition_format.hpp"
#include "sidecar/metrics/metrics_registry.hpp"
#include "sidecar/targets/target_labels.hpp"

using namespace dtrack::cli::sidecar;

namespace {

TEST(TargetLabels, RefuseNamesTheExpositionFormatForbidsRepeatsEmptyValuesAndMoreThanEight) {
    TargetLabels labels;
    EXPECT_FALSE(labels.add("", "x"));
    EXPECT_FALSE(labels.add("1st", "x"));
    EXPECT_FALSE(labels.add("a-b", "x"));
    EXPECT_FALSE(labels.add("a\"b", "x"));
    EXPECT_FALSE(labels.add("__name__", "x"));
    EXPECT_FALSE(labels.add("domain", ""));
    EXPECT_TRUE(labels.add("domain", "vm1"));
    EXPECT_FALSE(labels.add("domain", "vm2"));
    for (int i = 1; i < int(TargetLabels::max_labels); ++i) EXPECT_TRUE(labels.add("l" + std::to_string(i), "v"));
    EXPECT_FALSE(labels.add("one_too_many", "v"));
    ASSERT_EQ(labels.all().size(), TargetLabels::max_labels);
    EXPECT_EQ(labels.all()[0], (TargetLabel{"domain", "vm1"}));
}

TEST(TargetLabels, CutLongValuesAtACharacterBoundary) {
    TargetLabels labels;
    // 127 ASCII bytes, then a 2-byte character across the 128-byte limit.
    const std::string value = std::string(127, 'a') + "\xC3\xA9" + std::string(100, 'b');
    ASSERT_TRUE(labels.add("domain", value));
    EXPECT_EQ(labels.all()[0].value, std::string(127, 'a'));
    EXPECT_EQ(cut_at_character("short", 128), "short");
}

TEST(TargetLabels, FollowTheSidecarsOwnOnTheInfoSeriesEscapedAndNeverReplaceOne) {
    TargetFigures t{.target = "vm1", .pid = 42, .comm = "qemu-system-x86", .method = "sample"};
    t.labels.add("domain", "evil\"} 1\ndtrack_fake{a=\"b");
    t.labels.add("pid", "7");
    const std::vector<MetricFamily> families = metric_families({t}, {});
    const MetricFamily& info = families.front();
    ASSERT_EQ(info.name, "dtrack_target");
    ASSERT_EQ(info.samples.size(), 1u);
    const std::vector<Label>& labels = info.samples[0].labels;
    EXPECT_EQ(labels.back().name, "domain");
    int pids = 0;
    for (const Label& l : labels) pids += l.name == "pid";
    EXPECT_EQ(pids, 1) << "a target's label never replaces the sidecar's own";
    EXPECT_EQ(labels[1].value, "42");

    const std::string text = render(families, ExpositionFormat::prometheus_text);
    EXPECT_NE(text.find(R"(domain="evil\"} 1\ndtrack_fake{a=\"b"})"), std::string::npos) << text;
    EXPECT_EQ(text.find("\ndtrack_fake"), std::string::npos) << text;
}

}  // namespace
