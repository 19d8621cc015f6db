// tools/prometheus's rules and dashboard in a real Prometheus (Debian's
// package) that scrapes a real `dtrack sidecar` measuring a real KVM guest
// (dtvm; method bpf with --quota, so every family the dashboard shows has
// series). Every recording rule and every dashboard query, with its template
// variables filled in as Grafana fills them, must answer with series that
// keep the label the scrape config adds (host); the job is not "dtrack", so a
// query that assumes it answers nothing. An alert has a series only while it
// fires: a query of ALERTS must name alerts the rules define.
// Without KVM the same check runs on dtvm's process backend, measured by
// sampling with per-thread write faults: every query must still run, and
// only those of the families the bpf method alone serves may be empty.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/backends.hpp"
#include "support/background_process.hpp"
#include "support/prometheus_server.hpp"
#include "support/run_command.hpp"
#include "support/sidecar_process.hpp"

using dtrack_test::BackgroundProcess;
using dtrack_test::PrometheusServer;
using dtrack_test::SidecarProcess;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kJob = "dtvm-sidecars";  // not the shipped config's "dtrack"
constexpr const char* kHost = "rack7-node3";

// Scrapes the sidecar every second under job kJob, adding host=kHost to its
// series, and evaluates the shipped rules every second.
std::string scrape_config(int sidecar_port) {
    std::ostringstream yaml;
    yaml << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
         << "rule_files:\n  - " << dtrack_test::source_file("tools/prometheus/dtrack.rules.yml") << "\n"
         << "scrape_configs:\n  - job_name: " << kJob << "\n"
         << "    static_configs:\n      - targets: ['127.0.0.1:" << sidecar_port << "']\n"
         << "        labels:\n          host: " << kHost << "\n";
    return yaml.str();
}

// Polls `ready` every 20 ms for up to 10 s (a guard against hanging).
bool within_10s(const std::function<bool()>& ready) {
    for (const auto give_up = std::chrono::steady_clock::now() + 10s; std::chrono::steady_clock::now() < give_up;
         std::this_thread::sleep_for(20ms))
        if (ready()) return true;
    return false;
}

// Waits until process `pid` has `vcpus` KVM vCPU descriptors open: its VM
// and rings exist, which the bpf method needs (10 s: a guard).
bool wait_for_vcpus(pid_t pid, int vcpus) {
    return within_10s([&] {
        int found = 0;
        std::error_code ec;
        for (const auto& fd : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
            found += std::filesystem::read_symlink(fd.path(), ec).string().rfind("anon_inode:kvm-vcpu", 0) == 0;
        return found >= vcpus;
    });
}

// Waits until process `pid` has `threads` threads (10 s: a guard).
bool wait_for_threads(pid_t pid, int threads) {
    return within_10s([&] {
        std::error_code ec;
        const auto tasks = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
        return !ec && std::distance(tasks, std::filesystem::directory_iterator()) >= threads;
    });
}

// Grafana's text for a multi-value variable in a regex matcher: the values,
// regex-escaped inside a PromQL string (a backslash written twice), as (a|b).
std::string regex_of(const json& values) {
    std::string out;
    for (const auto& v : values) {
        out += out.empty() ? "(" : "|";
        for (char c : v.get<std::string>()) {
            if (std::string_view(R"(\.^$*+?()[]{}|)").find(c) != std::string_view::npos) out += "\\\\";
            out += c;
        }
    }
    return out + ")";
}

// `text` with each $NAME and ${NAME} of `variables` replaced by its value.
std::string substitute(std::string text, const std::map<std::string, std::string>& variables) {
    for (const auto& [name, value] : variables)
        for (const std::string& form : {"${" + name + "}", "$" + name})
            for (size_t at; (at = text.find(form)) != std::string::npos;) text.replace(at, form.size(), value);
    return text;
}

// What answered otherwise than it should; empty: every query answered right.
using Faults = std::vector<std::string>;

// The dashboard's template variables, in order, as Grafana fills them in:
// label_values(SELECTOR, LABEL) through Prometheus' label API, every value
// chosen ("All").
std::map<std::string, std::string> fill_variables(const PrometheusServer& prometheus, const json& dashboard,
                                                  Faults& out) {
    std::map<std::string, std::string> values;
    const std::regex label_values(R"(^label_values\((?:(.*),\s*)?(\w+)\)$)");
    for (const json& variable : dashboard["templating"]["list"]) {
        if (variable["type"] == "datasource") continue;
        const std::string name = variable["name"], query = variable.value("query", "");
        std::smatch m;
        if (variable["type"] != "query" || !std::regex_match(query, m, label_values)) {
            out.push_back("variable " + name + ": a query this test cannot run: " + query);
            continue;
        }
        std::vector<std::pair<std::string, std::string>> params;
        if (m[1].matched) params.emplace_back("match[]", substitute(m[1], values));
        const json answer = prometheus.api("label/" + std::string(m[2]) + "/values", params);
        if (answer["status"] != "success" || answer["data"].empty())
            out.push_back("variable " + name + ": no values for " + query + ": " + answer.dump());
        else values[name] = regex_of(answer["data"]);
    }
    return values;
}

// The families only the bpf method serves (a KVM VM's memslots, its rings'
// record, stuck vCPUs and ring-full exits): on the process backend their
// queries answer with no series.
const std::set<std::string> kBpfOnly = {"dtrack_slot_dirty_pages_total", "dtrack_lost_pages_total",
                                        "dtrack_overapproximated_pages_total", "dtrack_stuck_vcpus",
                                        "dtrack_vcpu_ring_full_exits_total"};

bool names_any(const std::string& expr, const std::set<std::string>& families) {
    for (const std::string& family : families)
        if (expr.find(family) != std::string::npos) return true;
    return false;
}

// What is wrong with the answer to `expr` (an instant query): "" if nothing.
// `alerts`: the alerting rules' names, for a query of ALERTS; `may_be_empty`:
// whether it may answer with no series.
std::string fault_of(const std::string& what, const std::string& expr, const json& answer,
                     const std::set<std::string>& alerts, bool may_be_empty) {
    if (answer["status"] != "success") return what + ": " + expr + " fails: " + answer.dump();
    if (expr.rfind("ALERTS{", 0) == 0) {
        std::smatch m;
        if (!std::regex_search(expr, m, std::regex(R"(alertname=~?"([^"]*)\")")))
            return what + ": " + expr + " names no alert";
        const std::string names = m[1];
        for (size_t from = 0, bar; from <= names.size(); from = bar + 1) {
            bar = std::min(names.find('|', from), names.size());
            if (!alerts.count(names.substr(from, bar - from)))
                return what + ": " + expr + " names " + names.substr(from, bar - from) + ", which no rule defines";
        }
        return "";
    }
    if (answer["data"]["result"].empty()) return may_be_empty ? "" : what + ": " + expr + " has no series";
    for (const json& series : answer["data"]["result"])
        if (series["metric"].value("host", "") != kHost)
            return what + ": " + expr + " lost the label host: " + series["metric"].dump();
    return "";
}

// Every rule evaluated without error, every recording rule's series and
// every dashboard query as fault_of wants them.
Faults ask_everything(const PrometheusServer& prometheus, const json& dashboard,
                      const std::set<std::string>& may_be_empty) {
    Faults out;
    const json rules = prometheus.api("rules");
    std::set<std::string> alerts;
    std::vector<std::pair<std::string, std::string>> recorded;  // name, query
    for (const json& group : rules["data"]["groups"])
        for (const json& rule : group["rules"]) {
            const std::string name = rule["name"];
            if (rule["type"] == "alerting") alerts.insert(name);
            else recorded.emplace_back(name, rule.value("query", ""));
            if (rule["health"] != "ok")
                out.push_back("rule " + name + ": " + rule["health"].get<std::string>() + " " +
                              rule.value("lastError", ""));
        }
    if (recorded.empty()) out.push_back("no recording rule loaded: " + rules.dump());
    for (const auto& [name, query] : recorded)
        if (auto f = fault_of("rule " + name, name, prometheus.query(name), alerts, names_any(query, may_be_empty));
            !f.empty())
            out.push_back(f);

    const std::map<std::string, std::string> variables = fill_variables(prometheus, dashboard, out);
    for (const json& panel : dashboard["panels"])
        for (const json& target : panel["targets"]) {
            const std::string expr = substitute(target["expr"], variables);
            const std::string what =
                "panel \"" + panel["title"].get<std::string>() + "\" " + target["refId"].get<std::string>();
            if (auto f = fault_of(what, expr, prometheus.query(expr), alerts, names_any(expr, may_be_empty));
                !f.empty())
                out.push_back(f);
        }
    return out;
}

// Prometheus scraping `sidecar`: every rule and dashboard query answers (60 s
// for rate() to have two samples and the rules to run on them: a guard
// against hanging, not a measurement).
void expect_every_query_answers(const SidecarProcess& sidecar, const std::set<std::string>& may_be_empty) {
    std::ifstream in(dtrack_test::source_file("tools/prometheus/grafana/dtrack-dashboard.json"));
    const json dashboard = json::parse(in);
    PrometheusServer prometheus(scrape_config(sidecar.port()));
    ASSERT_TRUE(prometheus.ready()) << prometheus.log();
    Faults faults;
    for (const auto give_up = std::chrono::steady_clock::now() + 60s;; std::this_thread::sleep_for(250ms)) {
        faults = ask_everything(prometheus, dashboard, may_be_empty);
        if (faults.empty() || std::chrono::steady_clock::now() > give_up) break;
    }
    for (const std::string& fault : faults) ADD_FAILURE() << fault;
    if (!faults.empty()) ADD_FAILURE() << "sidecar:\n" << sidecar.log() << "\nprometheus:\n" << prometheus.log();
}

TEST(PrometheusDashboard, EveryQueryAndRecordingRuleAnswersInARealPrometheusAndKeepsTheScrapeConfigsLabels) {
    if (const std::string why = PrometheusServer::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    if (const std::string why = dtrack_test::kvm_unusable_reason(); !why.empty())
        GTEST_SKIP() << "needs a KVM guest measured with bpf, for the series only that method has (the process "
                        "backend's test carries the rest), and "
                     << why;
    // 2 vCPUs writing 5k new pages/s each, over a quota of 1000 pages/s.
    BackgroundProcess dtvm(dtrack_test::binary("dtvm") +
                           " --mem 256M --vcpus 2 --workload sequential --wss 200M --rate 5k --exit-every 64"
                           " --track ring --duration 120s");
    ASSERT_TRUE(wait_for_vcpus(dtvm.pid(), 2)) << "dtvm started no KVM guest";
    SidecarProcess sidecar("--pid " + std::to_string(dtvm.pid()) + " --method bpf --quota 1000 --interval 500ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    expect_every_query_answers(sidecar, {});
}

// The same on any machine: dtvm's process backend, sampled, with each
// thread's write faults against the quota.
TEST(PrometheusDashboard, OnAProcessEveryQueryAnswersButThoseOfTheFamiliesOnlyBpfServes) {
    if (const std::string why = PrometheusServer::unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    BackgroundProcess dtvm(dtrack_test::binary("dtvm") +
                           " --backend process --mem 256M --vcpus 2 --workload sequential --wss 200M --rate 5k"
                           " --duration 120s");
    ASSERT_TRUE(wait_for_threads(dtvm.pid(), 3)) << "dtvm started no vCPU threads";
    SidecarProcess sidecar("--pid " + std::to_string(dtvm.pid()) + " --method sample --quota 1000 --interval 500ms");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    expect_every_query_answers(sidecar, kBpfOnly);
}

}  // namespace
