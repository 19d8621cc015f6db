// tools/prometheus ships rules and a dashboard over the sidecar's metrics.
// Prometheus' own checker loads them where Debian's prometheus package is
// installed (make deps installs it where it can), and its rule unit tests
// (dtrack.rules.test.yml) say when the "cannot converge" alert fires.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <fstream>

#include "support/run_command.hpp"

using dtrack_test::run;
using dtrack_test::source_file;

namespace {

#define DTRACK_REQUIRE_PROMTOOL()                                                                   \
    do {                                                                                            \
        if (run("command -v promtool >/dev/null").exit_code != 0)                                   \
            GTEST_SKIP() << "promtool is not installed (Debian's prometheus package; `make deps` "  \
                            "installs it where the distribution has it)";                           \
    } while (0)

std::string promtool(const std::string& args) {
    return "cd " + source_file("tools/prometheus") + " && promtool " + args + " 2>&1";
}

TEST(PrometheusRules, PromtoolAcceptsTheRulesAndTheScrapeConfig) {
    DTRACK_REQUIRE_PROMTOOL();
    const auto rules = run(promtool("check rules dtrack.rules.yml"));
    EXPECT_EQ(rules.exit_code, 0) << rules.output;
    const auto config = run(promtool("check config prometheus.yml"));
    EXPECT_EQ(config.exit_code, 0) << config.output;
}

TEST(PrometheusRules, TheAlertFiresForAVmThatCannotConvergeAndForNoOther) {
    DTRACK_REQUIRE_PROMTOOL();
    const auto r = run(promtool("test rules dtrack.rules.test.yml"));
    EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(PrometheusRules, TheDashboardIsGrafanaJsonWithAQueryInEveryPanel) {
    std::ifstream in(source_file("tools/prometheus/grafana/dtrack-dashboard.json"));
    ASSERT_TRUE(in) << "no dashboard";
    const nlohmann::json dashboard = nlohmann::json::parse(in);  // throws, and fails the test, on bad JSON
    ASSERT_TRUE(dashboard["panels"].is_array());
    for (const auto& panel : dashboard["panels"]) {
        ASSERT_FALSE(panel["targets"].empty()) << panel["title"];
        for (const auto& target : panel["targets"]) EXPECT_FALSE(target["expr"].get<std::string>().empty());
    }
}

}  // namespace
