// The DaemonSet's securityContext, run for real: the sidecar as root (uid 0,
// as the manifest has it) with exactly the capabilities the manifest adds
// and every other dropped, as the container runtime would start it, measures
// a process of another user (KubeVirt's QEMU runs as user 107). Root without
// CAP_DAC_OVERRIDE is refused another user's /proc/PID/fd (mode 0500), so
// the list must hold what opens it; reading the list from the manifest keeps
// the two from drifting apart.
#include <gtest/gtest.h>

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "support/background_process.hpp"
#include "support/run_command.hpp"

using dtrack_test::BackgroundProcess;
using dtrack_test::binary;
using dtrack_test::run;
using dtrack_test::source_file;

namespace {

// The DaemonSet's `add: ["BPF", ...]` as setpriv's "+bpf,+...".
std::string daemonset_capabilities() {
    std::ifstream in(source_file("deploy/kubernetes/daemonset.yaml"));
    std::stringstream text;
    text << in.rdbuf();
    std::smatch m;
    const std::string yaml = text.str();
    if (!std::regex_search(yaml, m, std::regex("\\n\\s*add: \\[([^\\]]*)\\]"))) return "";
    std::string caps;
    const std::string list = m[1].str();
    const std::regex quoted("\"([A-Z_]+)\"");
    for (std::sregex_iterator it(list.begin(), list.end(), quoted), end; it != end; ++it) {
        std::string name = (*it)[1].str();
        for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
        caps += (caps.empty() ? "+" : ",+") + name;
    }
    return caps;
}

TEST(DaemonSetCapabilities, AsRootWithOnlyThoseTheManifestAddsTheSidecarMeasuresAnotherUsersProcess) {
    const std::string caps = daemonset_capabilities();
    ASSERT_NE(caps, "") << "no capabilities: add: [...] list in deploy/kubernetes/daemonset.yaml";
    BackgroundProcess other("setpriv --reuid=65534 --regid=65534 --clear-groups sleep 600");
    // The PID runs sleep as nobody once setpriv has exec'd it.
    for (int i = 0; i < 100 && run("ps -o user= -p " + std::to_string(other.pid())).output != "nobody\n"; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_EQ(run("ps -o user= -p " + std::to_string(other.pid())).output, "nobody\n");

    const std::string log = "/tmp/dtrack-daemonset-caps-" + std::to_string(::getpid()) + ".log";
    const auto r = run(": >" + log + "; setpriv --bounding-set=-all," + caps + " --inh-caps=-all --no-new-privs -- " +
                       binary("dtrack") + " sidecar --pid " + std::to_string(other.pid()) +
                       " --method sample --listen 127.0.0.1:0 2>>" + log +
                       " & p=$!; i=0; while [ $i -lt 100 ] && kill -0 $p 2>/dev/null && ! grep -q serving " + log +
                       "; do sleep 0.1; i=$((i+1)); done; kill -TERM $p 2>/dev/null; wait $p; rc=$?; cat " + log +
                       "; rm -f " + log + "; exit $rc");
    EXPECT_EQ(r.exit_code, 0) << "with " << caps << ":\n" << r.output;
    EXPECT_NE(r.output.find("attached target sleep-" + std::to_string(other.pid())), std::string::npos)
        << "with " << caps << ":\n"
        << r.output;
}

}  // namespace
