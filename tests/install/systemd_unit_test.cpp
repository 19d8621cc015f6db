// The sidecar's systemd unit as `make install` puts it (deploy/systemd/):
// systemd-analyze verify passes, systemd-analyze security's exposure stays at
// or below what its capabilities cost, and its options file is the
// operator's: never overwritten by an install, kept by uninstall once edited.
// systemd-analyze comes with Debian's systemd package (optional: skipped
// with the reason where it is missing).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>

#include "support/backends.hpp"
#include "support/background_process.hpp"
#include "support/run_command.hpp"
#include "support/staged_install.hpp"

namespace {

namespace fs = std::filesystem;
using dtrack_test::run;
using dtrack_test::StagedInstall;

// The value of `key=` in the unit's text ("" when it has none).
std::string unit_setting(const std::string& unit, const std::string& key) {
    std::smatch m;
    return std::regex_search(unit, m, std::regex("\n" + key + "=([^\n]*)\n")) ? m[1].str() : "";
}

// "CAP_BPF CAP_SYS_PTRACE" as setpriv's "+bpf,+sys_ptrace", without `dropped`.
std::string setpriv_caps(const std::string& caps, const std::string& dropped = "") {
    std::string out;
    std::istringstream words(caps);
    for (std::string cap; words >> cap;) {
        if (cap == dropped) continue;
        std::string name = cap.substr(4);
        for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
        out += (out.empty() ? "+" : ",+") + name;
    }
    return out;
}

// The highest exposure systemd-analyze security (systemd 252) may give the
// unit: 2.2, all of it what the sidecar needs (a system call allow list that
// must include bpf() of @privileged and perf_event_open() of @debug, ambient
// CAP_BPF, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH, IPv4/IPv6 and AF_UNIX
// sockets, the host's network, users and root directory: it measures other
// users' processes and serves them over HTTP). No margin: dropping
// PrivateDevices=, ProtectProc=, ProtectKernelTunables= or DynamicUser=,
// widening the bounding set or the address families, or the system call
// filter takes it over (2.3 to 3.5).
constexpr double max_exposure = 2.2;

std::string systemd_analyze_missing() {
    if (run("command -v systemd-analyze >/dev/null 2>&1").exit_code != 0)
        return "systemd-analyze is not installed (Debian's systemd package)";
    return "";
}

class SidecarUnit : public testing::Test {
protected:
    static void SetUpTestSuite() { install_ = std::make_unique<StagedInstall>("PREFIX=/usr"); }
    static void TearDownTestSuite() { install_.reset(); }
    void SetUp() override { ASSERT_TRUE(install_->ok()) << install_->output(); }

    static fs::path unit() { return install_->staged("/usr/lib/systemd/system/dtrack-sidecar.service"); }
    // A copy of the installed unit (in a folder of its own, named as it is)
    // whose ExecStart names the staged binary: verify looks it up on this host.
    static fs::path unit_pointing_into_the_staging_tree() {
        const fs::path dir = install_->dir() / "verify";
        fs::create_directories(dir);
        std::string text = dtrack_test::read_text(unit());
        text = std::regex_replace(text, std::regex("ExecStart=/usr/bin/"),
                                  "ExecStart=" + install_->staged("/usr/bin/").string());
        std::ofstream(dir / "dtrack-sidecar.service") << text;
        return dir / "dtrack-sidecar.service";
    }

    static inline std::unique_ptr<StagedInstall> install_;
};

TEST_F(SidecarUnit, InstallPutsTheUnitWithItsPathsAndTheOptionsFileItReads) {
    const std::string text = dtrack_test::read_text(unit());
    EXPECT_NE(text.find("\nExecStart=/usr/bin/dtrack sidecar $DTRACK_SIDECAR_OPTS\n"), std::string::npos) << text;
    EXPECT_NE(text.find("\nEnvironmentFile=-/etc/default/dtrack-sidecar\n"), std::string::npos) << text;
    EXPECT_FALSE(std::regex_search(text, std::regex("@[A-Z_]+@"))) << "a field was not filled in:\n" << text;
    const std::string options = dtrack_test::read_text(install_->staged("/etc/default/dtrack-sidecar"));
    EXPECT_NE(options.find("\nDTRACK_SIDECAR_OPTS="), std::string::npos) << options;
}

TEST_F(SidecarUnit, PassesSystemdAnalyzeVerify) {
    if (const std::string why = systemd_analyze_missing(); !why.empty()) GTEST_SKIP() << why;
    // MANPATH: its Documentation=man:dtrack(1) is the staged man page.
    const auto r = run("MANPATH='" + install_->staged("/usr/share/man").string() + "' systemd-analyze verify '" +
                       unit_pointing_into_the_staging_tree().string() + "' 2>&1");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, "") << "verify warned";
}

TEST_F(SidecarUnit, SystemdAnalyzeSecurityRatesItsExposureAtMostTheThreshold) {
    if (const std::string why = systemd_analyze_missing(); !why.empty()) GTEST_SKIP() << why;
    const auto r = run("systemd-analyze security --offline=true --no-pager '" +
                       unit_pointing_into_the_staging_tree().string() + "' 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(Overall exposure level for [^:]+: ([0-9.]+))")))
        << r.output;
    const double exposure = std::stod(m[1]);
    std::printf("  systemd-analyze security: exposure %.1f (at most %.1f)\n", exposure, max_exposure);
    EXPECT_LE(exposure, max_exposure) << r.output;
}

TEST(SidecarUnitOptions, AnOperatorsOptionsFileSurvivesInstallAndUninstall) {
    const StagedInstall install("PREFIX=/usr");
    ASSERT_TRUE(install.ok()) << install.output();
    const fs::path options = install.staged("/etc/default/dtrack-sidecar");
    const std::string mine = "DTRACK_SIDECAR_OPTS=\"--pid 1 --listen 127.0.0.1:9999\"\n";
    std::ofstream(options) << mine;
    const auto again =
        dtrack_test::make_in_checkout("install", "PREFIX=/usr DESTDIR='" + install.destdir().string() + "'");
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(dtrack_test::read_text(options), mine) << "install overwrote the operator's options";
    const auto removed = install.uninstall();
    ASSERT_EQ(removed.exit_code, 0) << removed.output;
    EXPECT_EQ(dtrack_test::read_text(options), mine) << "uninstall removed the operator's options";
    EXPECT_FALSE(fs::exists(install.staged("/usr/lib/systemd/system/dtrack-sidecar.service")));
}

}  // namespace

namespace {

// The installed sidecar run as the unit runs it, as far as this can be had
// without systemd as PID 1: another user than the VM's (DynamicUser=), with
// no new privileges and exactly `caps` (setpriv). It stops once it serves (or
// exits by itself); its stderr and exit code.
dtrack_test::CommandResult sidecar_with(const StagedInstall& install, const std::string& caps, pid_t target,
                                        const std::string& method) {
    const std::string log = (install.dir() / "sidecar.log").string();
    const std::string sidecar = "setpriv --reuid=65534 --regid=65534 --clear-groups --no-new-privs --inh-caps=-all," +
                                caps + " --ambient-caps=-all," + caps + " --bounding-set=-all," + caps + " -- '" +
                                install.staged("/usr/bin/dtrack").string() + "' sidecar --pid " +
                                std::to_string(target) + " --method " + method + " --listen 127.0.0.1:0";
    // The log starts empty: the last run's "serving" must not stop this one.
    return run(": >'" + log + "'; " + sidecar + " 2>>'" + log +
               "' & p=$!; i=0; while [ $i -lt 300 ] && kill -0 $p 2>/dev/null && ! grep -q serving '" + log +
               "'; do sleep 0.1; i=$((i+1)); done; kill -TERM $p 2>/dev/null; wait $p; rc=$?; cat '" + log +
               "'; exit $rc");
}

TEST_F(SidecarUnit, ItsCapabilitiesLetTheSidecarMeasureAnotherUsersVmAndEachOneIsNeeded) {
    if (!dtrack_test::kvm_unusable_reason().empty())
        GTEST_SKIP() << "needs a KVM VM to watch with BPF, and " << dtrack_test::kvm_unusable_reason();
    const std::string unit_text = dtrack_test::read_text(unit());
    const std::string caps = unit_setting(unit_text, "AmbientCapabilities");
    EXPECT_EQ(unit_setting(unit_text, "CapabilityBoundingSet"), caps);
    EXPECT_EQ(unit_setting(unit_text, "NoNewPrivileges"), "yes");
    EXPECT_EQ(unit_setting(unit_text, "DynamicUser"), "yes");
    EXPECT_EQ(caps, "CAP_BPF CAP_PERFMON CAP_SYS_PTRACE CAP_DAC_READ_SEARCH");
    fs::permissions(install_->dir(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);

    // A KVM VM of root's with the dirty ring, as QEMU runs one as libvirt-qemu.
    const std::string vm_log = (install_->dir() / "dtvm.log").string();
    dtrack_test::BackgroundProcess vm("sh -c \"exec '" + dtrack_test::binary("dtvm") +
                                      "' --backend kvm --duration 60s --rate 2k --mem 64M --wss 16M >'" + vm_log +
                                      "'\"");
    ASSERT_EQ(run("i=0; until grep -qs 'workload' '" + vm_log + "'; do [ $i -lt 300 ] || exit 1; sleep 0.1; " +
                  "i=$((i+1)); done")
                  .exit_code,
              0)
        << "dtvm did not start: " << dtrack_test::read_text(vm_log);

    const std::string attached = "attached target dtvm-" + std::to_string(vm.pid());
    for (const char* method : {"bpf", "sample"}) {
        const auto r = sidecar_with(*install_, setpriv_caps(caps), vm.pid(), method);
        EXPECT_EQ(r.exit_code, 0) << method << ":\n" << r.output;
        EXPECT_NE(r.output.find(attached + " (pid " + std::to_string(vm.pid()) + ", dtvm, from pid_option): method " +
                                method),
                  std::string::npos)
            << method << ":\n"
            << r.output;
    }
    // Each capability dropped in turn: the method that needs it is refused
    // (exit 2) and the sidecar says what it could not do.
    const struct {
        const char* dropped;
        const char* method;
        const char* says;
    } without[] = {{"CAP_BPF", "bpf", "CAP_BPF"},
                   {"CAP_PERFMON", "bpf", "CAP_PERFMON"},
                   {"CAP_SYS_PTRACE", "sample", "process_vm_readv"},
                   {"CAP_DAC_READ_SEARCH", "sample", "open files"}};
    for (const auto& w : without) {
        const auto r = sidecar_with(*install_, setpriv_caps(caps, w.dropped), vm.pid(), w.method);
        EXPECT_EQ(r.exit_code, 2) << "without " << w.dropped << ":\n" << r.output;
        EXPECT_NE(r.output.find(w.says), std::string::npos) << "without " << w.dropped << ":\n" << r.output;
        EXPECT_EQ(r.output.find(attached), std::string::npos) << "without " << w.dropped << ":\n" << r.output;
    }
}

}  // namespace
