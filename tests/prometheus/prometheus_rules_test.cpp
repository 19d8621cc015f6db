// tools/prometheus ships rules and a dashboard over the sidecar's metrics.
// Prometheus' own checker loads them where Debian's prometheus package is
// installed (make deps installs it where it can), and its rule unit tests
// (dtrack.rules.test.yml) say when the "cannot converge" alert fires. The
// dashboard's queries run in a real Prometheus in prometheus_dashboard_test.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/background_process.hpp"
#include "support/run_command.hpp"
#include "support/sidecar_process.hpp"

using dtrack_test::BackgroundProcess;
using dtrack_test::run;
using dtrack_test::SidecarProcess;
using dtrack_test::source_file;

namespace {

#define DTRACK_REQUIRE_PROMTOOL()                                                                  \
    do {                                                                                           \
        if (run("command -v promtool >/dev/null").exit_code != 0)                                  \
            GTEST_SKIP() << "promtool is not installed (Debian's prometheus package; `make deps` " \
                            "installs it where the distribution has it)";                          \
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

// Every expression of the dashboard: its panels' queries and its template
// variables' queries.
std::vector<std::string> dashboard_queries() {
    std::ifstream in(source_file("tools/prometheus/grafana/dtrack-dashboard.json"));
    const nlohmann::json dashboard = nlohmann::json::parse(in);
    std::vector<std::string> out;
    for (const auto& panel : dashboard["panels"])
        for (const auto& target : panel["targets"]) out.push_back(target["expr"]);
    for (const auto& variable : dashboard["templating"]["list"])
        if (variable["type"] == "query") out.push_back(variable["query"]);
    return out;
}

// The series an operator looks for when a VM will not migrate or hangs.
TEST(PrometheusRules, TheDashboardShowsTheVcpusOverTheQuotaAndTheStuckVcpus) {
    for (const char* series : {"dtrack_vcpu_over_quota", "dtrack_stuck_vcpus"}) {
        bool shown = false;
        for (const std::string& q : dashboard_queries()) shown = shown || q.find(series) != std::string::npos;
        EXPECT_TRUE(shown) << "no panel shows " << series;
    }
}

// Prometheus names the job after the scrape config: the dashboard takes it
// from a template variable ($job), never a name of its own.
TEST(PrometheusRules, NoDashboardQueryNamesAJobOfItsOwn) {
    const std::regex fixed_job(R"re(\bjob\s*(=|!=|=~|!~)\s*"(?!\$))re");
    for (const std::string& q : dashboard_queries()) EXPECT_FALSE(std::regex_search(q, fixed_job)) << q;
}

// Every dtrack_ metric the rules and the dashboard name (recording rules
// "dtrack:..." aside) is a family the sidecar describes: a renamed metric
// would otherwise leave a rule or a panel silently empty.
TEST(PrometheusRules, EveryMetricTheRulesAndTheDashboardUseIsOneTheSidecarServes) {
    BackgroundProcess idle("sleep 60");
    SidecarProcess sidecar("--pid " + std::to_string(idle.pid()) + " --method sample");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const auto scrape = sidecar.get();
    ASSERT_EQ(scrape.status, 200) << sidecar.log();
    std::set<std::string> served;
    const std::regex type_line(R"(# TYPE (\w+) )");
    for (std::sregex_iterator m(scrape.body.begin(), scrape.body.end(), type_line), end; m != end; ++m)
        served.insert((*m)[1]);
    ASSERT_TRUE(served.count("dtrack_dirty_pages_total")) << scrape.body;
    // And Prometheus' own linter finds nothing to say of the families.
    if (run("command -v promtool >/dev/null").exit_code == 0) {
        char path[] = "/tmp/dtrack-scrape-XXXXXX";
        const int fd = ::mkstemp(path);
        ASSERT_EQ(::write(fd, scrape.body.data(), scrape.body.size()), ssize_t(scrape.body.size()));
        ::close(fd);
        const auto lint = run(std::string("promtool check metrics <") + path + " 2>&1");
        ::unlink(path);
        EXPECT_EQ(lint.exit_code, 0) << lint.output;
        EXPECT_EQ(lint.output, "") << lint.output;
    }

    for (const char* file : {"tools/prometheus/dtrack.rules.yml", "tools/prometheus/grafana/dtrack-dashboard.json"}) {
        std::ifstream in(source_file(file));
        std::stringstream text;
        text << in.rdbuf();
        const std::string body = text.str();
        ASSERT_FALSE(body.empty()) << file;
        const std::regex metric(R"(\b(dtrack_[a-z_]+|process_cpu_seconds_total)\b)");
        int used = 0;
        for (std::sregex_iterator m(body.begin(), body.end(), metric), end; m != end; ++m, ++used)
            EXPECT_TRUE(served.count((*m)[1])) << file << " uses " << (*m)[1] << ", which the sidecar does not serve";
        EXPECT_GT(used, 0) << file;
    }
}

}  // namespace
