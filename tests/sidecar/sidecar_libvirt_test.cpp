// The sidecar beside a real libvirtd: pointed at libvirt's pid-file
// directory, it finds a domain running tests/qemu/dirtying_guest.S, labels it
// with the domain's name and UUID from QEMU's command line, measures it
// within its bound against the guest's 8192 pages, and drops it when the
// domain is destroyed. And a command line written to look like QEMU's cannot
// put label syntax into a scrape.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/libvirt_daemon.hpp"
#include "support/libvirt_domain.hpp"
#include "support/qemu_guest.hpp"
#include "support/sidecar_process.hpp"

using dtrack_test::kQemuGuestDirtyPages;
using dtrack_test::kQemuOwnPages;
using dtrack_test::LibvirtDaemon;
using dtrack_test::LibvirtDomain;
using dtrack_test::ScrapeResult;
using dtrack_test::SidecarProcess;

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Waits until the log has one of `texts`; false after 20 s (a guard, not a measurement).
bool log_says_one_of(const SidecarProcess& sidecar, const std::vector<std::string>& texts) {
    for (int i = 0; i < 200; ++i) {
        const std::string log = sidecar.log();
        for (const std::string& text : texts)
            if (log.find(text) != std::string::npos) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

TEST(SidecarLibvirt, ADomainIsFoundLabelledMeasuredWithinItsBoundAndDroppedWhenDestroyed) {
    DTRACK_REQUIRE_LIBVIRT();
    LibvirtDaemon daemon;
    LibvirtDomain domain(daemon, LibvirtDaemon::kDomainPrefix + std::to_string(::getpid()));
    SidecarProcess sidecar(std::string("--pid-file-dir ") + LibvirtDaemon::kPidDir + " --method sample");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string& target = domain.name();  // the pid file's stem
    const Labels t{{"target", target}};
    const ScrapeResult a = sidecar.scrape_after_harvests(target, 1);
    const ScrapeResult b = sidecar.scrape_after_harvests(target, a.value("dtrack_harvests_total", t).value_or(0) + 4);
    ASSERT_EQ(b.status, 200) << sidecar.log() << daemon.log();
    EXPECT_TRUE(b.has("dtrack_target_info", {{"target", target},
                                             {"pid", std::to_string(domain.pid())},
                                             {"domain", domain.name()},
                                             {"uuid", domain.uuid()}}))
        << "uuid " << domain.uuid() << "\n"
        << b.body;

    // libvirt's driver.pid beside it names libvirtd itself: no VM, no target.
    EXPECT_FALSE(b.has("dtrack_target_info", {{"comm", "libvirtd"}})) << b.body;

    const double intervals =
        b.value("dtrack_harvests_total", t).value_or(0) - a.value("dtrack_harvests_total", t).value_or(0);
    const double pages =
        b.value("dtrack_dirty_pages_total", t).value_or(0) - a.value("dtrack_dirty_pages_total", t).value_or(0);
    // The sample is fixed for the run: twice the 95% bound, as SidecarQemu allows.
    const double bound = 2 * b.value("dtrack_estimate_bound_pages", t).value_or(0);
    std::printf("  domain %s (%s): %.0f pages an interval over %.0f intervals, bound ±%.0f; the guest writes %llu\n",
                target.c_str(), domain.type().c_str(), intervals ? pages / intervals : 0, intervals, bound,
                static_cast<unsigned long long>(kQemuGuestDirtyPages));
    ASSERT_GE(intervals, 4) << b.body;
    EXPECT_GT(bound, 0) << b.body;
    EXPECT_GE(pages / intervals, kQemuGuestDirtyPages - bound) << b.body;
    EXPECT_LE(pages / intervals, kQemuGuestDirtyPages + kQemuOwnPages + bound) << b.body;

    domain.destroy();
    // libvirt kills QEMU and removes NAME.pid: whichever the sidecar sees first, it says so.
    const std::string pid = std::to_string(domain.pid());
    EXPECT_TRUE(log_says_one_of(sidecar, {"detached target " + target + " (pid " + pid + ")",
                                          "target " + target + " (pid " + pid + ", qemu-system-x86) exited; dropped"}))
        << sidecar.log();
    const ScrapeResult gone = sidecar.get();
    ASSERT_EQ(gone.status, 200) << sidecar.log();
    EXPECT_FALSE(gone.has("dtrack_target_info", t)) << gone.body;
    EXPECT_FALSE(gone.has("dtrack_dirty_pages_total", t)) << gone.body;
}

// A process whose argv[0] says it is QEMU, with the arguments given; killed at the end.
class ProcessCallingItselfQemu {
public:
    explicit ProcessCallingItselfQemu(std::vector<std::string> args) {
        args.insert(args.begin(), {"qemu-system-x86_64", "-c", "sleep 1000; :"});  // bash, under QEMU's name
        pid_ = ::fork();
        if (pid_ == 0) {
            ::setpgid(0, 0);  // its own group: the sleep goes with it
            const int null = ::open("/dev/null", O_RDWR);
            for (int fd : {0, 1, 2}) ::dup2(null, fd);
            std::vector<char*> argv;
            for (std::string& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv("/bin/bash", argv.data());
            ::_exit(127);
        }
    }
    ~ProcessCallingItselfQemu() {
        ::kill(-pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_;
};

TEST(SidecarLibvirt, AHostileQemuCommandLineCannotInjectLabelSyntaxAndIsCutToItsLength) {
    // A -name built to close the label set and start a series of its own,
    // 300 bytes long, and a uuid that is not one.
    const std::string hostile = "evil\"} 1\ndtrack_fake_total{a=\"b,c" + std::string(300, 'x');
    ProcessCallingItselfQemu fake(
        {"-name", "guest=evil\"} 1\ndtrack_fake_total{a=\"b,,c" + std::string(300, 'x'), "-uuid", "not-a-uuid"});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // bash has started (its cmdline is set at exec)
    SidecarProcess sidecar("--pid " + std::to_string(fake.pid()) + " --method sample");
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::string target = "bash-" + std::to_string(fake.pid());  // COMM-PID: comm is the program's
    const ScrapeResult r = sidecar.scrape_after_harvests(target, 1);
    ASSERT_EQ(r.status, 200) << sidecar.log();
    // Its first 128 bytes, escaped: the quotes and the newline stay inside the one label value.
    std::string escaped;
    for (char c : hostile.substr(0, 128)) escaped += c == '"' ? "\\\"" : c == '\n' ? "\\n" : std::string(1, c);
    EXPECT_NE(r.body.find("domain=\"" + escaped + "\"}"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("\ndtrack_fake_total"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("uuid="), std::string::npos) << r.body;
}

}  // namespace
