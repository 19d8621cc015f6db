// BpfSource::stuck_vcpus on a real KVM guest whose VMM stops resetting its
// dirty ring, as QEMU 7.2 does after calc-dirty-rate mode=dirty-ring: the
// vCPU exits with KVM_EXIT_DIRTY_RING_FULL, the VMM returns without
// KVM_RESET_DIRTY_RINGS and runs it again, and it exits full again at once.
// dtvm's ring-full handler is replaced by one that does just that while the
// test holds the jam, and goes back to harvesting and resetting after.
//
// A plain function that returns what went wrong, so it also runs in a
// forked child (the tp/ family, where tracefs must be mounted privately).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "dtrack/bpf_source.hpp"
#include "probe/probes.hpp"
#include "support/backends.hpp"
#include "support/bpf_objects.hpp"
#include "dtvm/tracking/tracking.hpp"
#include "dtvm/vm/kvm_vm.hpp"

namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

struct JamRun {
    std::vector<std::string> failures;
    std::string hooked_with;
    double reported_after_s = -1;      // from the first full exit to stuck_vcpus(5 s) listing the vCPU
    double reported_stuck_s = 0;       // what it said then
    uint64_t reported_full_exits = 0;  // ring-full exits it counted then
    uint64_t writes_while_jammed = 0;  // guest page writes in the last 4 s of the jam
    uint64_t writes_after_reset = 0;   // in 1 s after the resets came back

    std::string summary() const {
        char line[320];
        std::snprintf(line, sizeof line,
                      "hooked with %s: stuck reported %.2f s after the first full exit (stuck %.2f s, %llu ring-full "
                      "exits); guest writes: %llu in the jam's last 4 s, %llu in 1 s after the reset",
                      hooked_with.c_str(), reported_after_s, reported_stuck_s, (unsigned long long)reported_full_exits,
                      (unsigned long long)writes_while_jammed, (unsigned long long)writes_after_reset);
        std::string text = line;
        for (const std::string& f : failures) text += "\n  FAILED: " + f;
        return text;
    }
};

JamRun run_jammed_guest(dtrack::BpfHooks hooks) {
    JamRun out;
    auto failed = [&](std::string why) {
        out.failures.push_back(std::move(why));
        return out;
    };
    // A small ring fills within microseconds of guest time.
    auto tracking = dtvm::Tracking::create({.mem_bytes = 16ULL << 20, .slots = 1, .vcpus = 1},
                                           {.mode = dtvm::TrackMode::ring, .ring_entries = 256, .reaper = false});
    if (!tracking) return failed("dtvm: " + tracking.error().message());
    dtvm::Vm& vm = tracking.value()->vm();
    dtrack::KvmRingSource* ring = tracking.value()->ring();

    dtrack::Tracker observer;
    observer.add_region({.name = "slot 0", .slot = vm.slots()[0].id, .page_count = vm.slots()[0].pages}).value();
    auto bpf = dtrack::BpfSource::attach(::getpid(), observer, {.hooks = hooks});
    if (!bpf) return failed("BpfSource::attach: " + bpf.error().message());
    const dtrack::BpfSource& source = *bpf.value();
    out.hooked_with = source.hooked_with();

    std::atomic<bool> jammed{true};
    vm.kvm()->on_ring_full([&](uint32_t vcpu) -> dtrack::Status {
        if (jammed.load()) return dtrack::Ok{};  // back into KVM_RUN with the ring still full
        return ring->on_ring_full(vcpu);
    });
    if (dtrack::Status s = vm.start({.pattern = dtvm::Pattern::sequential, .wss_pages = 2048, .exit_every = 64}); !s)
        return failed("dtvm start: " + s.error().message());
    auto full_exits = [&] {
        const auto c = source.companion_counters().full_exits_per_vcpu;
        return c.empty() ? 0 : c[0];
    };
    auto resets = [&] {
        const auto c = source.companion_counters().resets_per_ring;
        return c.empty() ? 0 : c[0];
    };

    const auto started = Steady::now();
    while (full_exits() == 0 && Steady::now() - started < 5s) std::this_thread::sleep_for(1ms);
    const auto first_exit = Steady::now();
    if (full_exits() == 0) {
        vm.stop();
        return failed("no ring-full exit in 5 s: the guest never filled its ring");
    }

    // Pending but young: there for a short threshold, not for the default.
    std::this_thread::sleep_for(1s);
    if (!source.stuck_vcpus().empty()) out.failures.push_back("stuck after 1 s, below the 5 s threshold");
    if (source.stuck_vcpus(500ms).size() != 1) out.failures.push_back("a full exit 1 s old is not pending");

    const uint64_t writes_before = vm.stats(0).writes;
    std::vector<dtrack::StuckVcpu> stuck;
    while (stuck.empty() && Steady::now() - first_exit < 10s) {
        std::this_thread::sleep_for(100ms);
        stuck = source.stuck_vcpus();
    }
    out.reported_after_s = std::chrono::duration<double>(Steady::now() - first_exit).count();
    out.writes_while_jammed = vm.stats(0).writes - writes_before;
    if (stuck.size() != 1) {
        jammed = false;
        vm.stop();
        return failed("the jammed vCPU was not reported stuck within 10 s (" + std::to_string(full_exits()) +
                      " full exits, " + std::to_string(resets()) + " resets)");
    }
    out.reported_stuck_s = stuck[0].seconds();
    out.reported_full_exits = stuck[0].full_exits_since;
    if (stuck[0].vcpu != 0) out.failures.push_back("reported vCPU " + std::to_string(stuck[0].vcpu) + ", not 0");
    if (stuck[0].stuck_for < 5s || stuck[0].seconds() > out.reported_after_s + 0.1)
        out.failures.push_back("stuck for " + std::to_string(stuck[0].seconds()) + " s, reported after " +
                               std::to_string(out.reported_after_s) + " s of the jam");
    if (stuck[0].full_exits_since < 100)
        out.failures.push_back("only " + std::to_string(stuck[0].full_exits_since) +
                               " full exits while spinning on a full ring");

    // The VMM harvests again: its reset ends the stuck state.
    const uint64_t resets_before = resets();
    jammed = false;
    const auto released = Steady::now();
    while (resets() == resets_before && Steady::now() - released < 2s) std::this_thread::sleep_for(1ms);
    if (resets() == resets_before) out.failures.push_back("no ring reset within 2 s of letting the VMM harvest");
    const uint64_t writes_at_reset = vm.stats(0).writes;
    std::this_thread::sleep_for(1s);
    out.writes_after_reset = vm.stats(0).writes - writes_at_reset;
    if (!source.stuck_vcpus().empty()) out.failures.push_back("still stuck after the ring was reset");
    if (!source.stuck_vcpus(500ms).empty())
        out.failures.push_back("a full exit pending 500 ms while the VMM resets at every full exit");
    if (!vm.failure().empty()) out.failures.push_back("the guest failed: " + vm.failure());
    vm.stop();
    return out;
}

TEST(BpfStuckVcpus, AVcpuWhoseFullRingIsNotResetIsReportedAndNotOnceItIs) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    const JamRun r = run_jammed_guest(dtrack::BpfHooks::raw_tracepoints);
    std::printf("  %s\n", r.summary().c_str());
    EXPECT_TRUE(r.failures.empty()) << r.summary();
    EXPECT_EQ(r.hooked_with, "raw tracepoints");
    EXPECT_EQ(r.writes_while_jammed, 0u) << "the guest progressed: the ring was not jammed";
    EXPECT_GT(r.writes_after_reset, 0u) << "the guest did not go on after the reset";
}

TEST(BpfStuckVcpus, TheTracepointFamilyReportsItToo) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    const dtrack::probe::Outcome outcome = dtrack::probe::run_with_tracefs([] {
        const JamRun r = run_jammed_guest(dtrack::BpfHooks::tracepoints);
        return dtrack::probe::Outcome{r.failures.empty() && r.hooked_with == "tracepoints", r.summary()};
    });
    std::printf("  %s\n", outcome.text.c_str());
    EXPECT_TRUE(outcome.ok) << outcome.text;
}

}  // namespace
