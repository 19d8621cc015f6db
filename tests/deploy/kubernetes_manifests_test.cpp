// deploy/kubernetes/ checked offline (tests/deploy/validate_manifests.mjs:
// kubernetes-models' schemas, and no field they do not declare). What the
// check needs comes from `make deps` (npm into build/npm); where it is
// missing the tests skip and say so. (prometheus-scrape.yaml is not
// checked: Debian's promtool is built without kubernetes_sd_configs.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;
using dtrack_test::source_file;

namespace {

const char* const kManifests[] = {"namespace.yaml", "serviceaccount.yaml", "daemonset.yaml", "service.yaml",
                                  "servicemonitor.yaml"};

std::string node_modules() { return binary("npm/node_modules"); }

std::string unavailable_reason() {
    if (run("command -v node >/dev/null").exit_code != 0) return "node is not installed (make deps installs npm)";
    if (!std::filesystem::exists(node_modules() + "/kubernetes-models/package.json"))
        return "no kubernetes-models in " + node_modules() +
               " (make deps installs it from the npm registry; it was "
               "not reachable, or make deps was not run)";
    return "";
}

#define REQUIRE_VALIDATOR()                           \
    do {                                              \
        const std::string why = unavailable_reason(); \
        if (!why.empty()) GTEST_SKIP() << why;        \
    } while (0)

dtrack_test::CommandResult validate(const std::string& files) {
    return run("node " + source_file("tests/deploy/validate_manifests.mjs") + " " + node_modules() + " " + files +
               " 2>&1");
}

std::string read(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// `manifest` with `from` replaced by `to`, in a file of its own.
class Broken {
public:
    Broken(const std::string& manifest, const std::string& from, const std::string& to) {
        std::string text = read(source_file("deploy/kubernetes/" + manifest));
        const size_t at = text.find(from);
        EXPECT_NE(at, std::string::npos) << from;
        if (at != std::string::npos) text.replace(at, from.size(), to);
        path_ = std::filesystem::temp_directory_path() /
                ("dtrack-broken-" + std::to_string(::getpid()) + "-" + std::to_string(count_++) + "-" + manifest);
        std::ofstream(path_) << text;
    }
    ~Broken() { std::filesystem::remove(path_); }
    std::string path() const { return path_; }

private:
    static inline int count_ = 0;
    std::string path_;
};

TEST(KubernetesManifests, EveryManifestInDeployKubernetesIsValidForItsKind) {
    REQUIRE_VALIDATOR();
    std::string files;
    for (const char* m : kManifests) files += source_file("deploy/kubernetes/") + m + " ";
    const auto result = validate(files);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    for (const char* kind : {"Namespace", "ServiceAccount", "DaemonSet", "Service", "ServiceMonitor"})
        EXPECT_NE(result.output.find(std::string("(") + kind + "): valid"), std::string::npos) << result.output;
}

TEST(KubernetesManifests, AMisspelledFieldOrAWrongTypeFailsTheCheckNamingIt) {
    REQUIRE_VALIDATOR();
    const Broken misspelled("daemonset.yaml", "hostPID: true", "hostPid: true");
    const Broken wrong_type("daemonset.yaml", "containerPort: 9464", "containerPort: \"9464\"");
    const Broken monitor("servicemonitor.yaml", "honorLabels: true", "honourLabels: true");
    const Broken no_spec("service.yaml", "spec:", "specs:");
    const auto result =
        validate(misspelled.path() + " " + wrong_type.path() + " " + monitor.path() + " " + no_spec.path());
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("/spec/template/spec/hostPid: unknown field \"hostPid\""), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("containers/0/ports/0/containerPort must be integer"), std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("/spec/endpoints/0/honourLabels: unknown field"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("/specs: unknown field"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find(": valid"), std::string::npos) << result.output;
}

}  // namespace
