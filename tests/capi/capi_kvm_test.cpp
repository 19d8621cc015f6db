// The C ABI against a real KVM guest (dtvm's VM layer): a memslot region,
// the dirty ring on the vCPU fds (with and without the reaper, so the
// vCPU threads' KVM_EXIT_DIRTY_RING_FULL goes through dt_ring_on_full) and
// the dirty log. Every page the guest stamped in an epoch comes back, and
// hardly any other. Skips where /dev/kvm does not work.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "dtrack/dtrack.h"
#include "support/backends.hpp"
#include "dtvm/vm/kvm_vm.hpp"
#include "dtvm/vm/vm.hpp"

namespace {

using namespace std::chrono_literals;

// ring_small_own_exits: as ring_small_no_reaper, its full exits through
// dt_ring_on_full_own (QEMU's under its dirty limit).
enum class Mode { ring_small_no_reaper, ring_small_own_exits, ring_with_reaper, log };

const char* mode_name(Mode m) {
    switch (m) {
        case Mode::ring_small_no_reaper: return "ring_small_no_reaper";
        case Mode::ring_small_own_exits: return "ring_small_own_exits";
        case Mode::ring_with_reaper: return "ring_with_reaper";
        case Mode::log: return "log";
    }
    return "?";
}

class CApiKvm : public testing::TestWithParam<Mode> {};

// The pages stamped with `epoch` and the pages the tracker reported (taken
// into a bitmap), over the one slot.
struct EpochCheck {
    uint64_t written = 0;
    uint64_t missed = 0;  // written, not reported
    uint64_t reported = 0;
};

EpochCheck check_epoch(dtvm::Vm& vm, dt_tracker* tracker) {
    const dtvm::Slot& slot = vm.slots()[0];
    std::vector<uint64_t> bitmap((slot.pages + 63) / 64, 0);
    EpochCheck c;
    EXPECT_EQ(dt_sync(tracker, DT_SYNC_ROUND, nullptr), 0) << dt_last_error();
    const int64_t taken = dt_take_bitmap(tracker, 0, 0, slot.pages, bitmap.data(), bitmap.size());
    EXPECT_GE(taken, 0) << dt_last_error();
    c.reported = taken < 0 ? 0 : uint64_t(taken);
    for (uint64_t p = vm.workload_first_page(); p < slot.pages; ++p) {
        if (vm.stamp(slot, p) >> 8 != vm.epoch()) continue;
        ++c.written;
        c.missed += !(bitmap[p / 64] >> (p % 64) & 1);
    }
    return c;
}

TEST_P(CApiKvm, EveryPageTheGuestWritesIsReported) {
    DTRACK_REQUIRE_KVM();
    const Mode mode = GetParam();
    auto created = dtvm::Vm::create({.mem_bytes = 64ULL << 20, .slots = 1, .vcpus = 1, .dirty_logging = true});
    ASSERT_TRUE(created.ok()) << created.error().message();
    dtvm::Vm& vm = *created.value();
    dtvm::KvmVm& kvm = *vm.kvm();
    const dtvm::Slot& slot = vm.slots()[0];

    dt_tracker* tracker = nullptr;
    ASSERT_EQ(dt_tracker_create(&tracker), 0);
    ASSERT_EQ(dt_add_memslot(tracker, "slot 0", slot.id, slot.gpa, slot.pages), 0) << dt_last_error();
    dt_ring* ring = nullptr;
    dt_log* log = nullptr;
    if (mode == Mode::log) {
        ASSERT_EQ(dt_log_enable(tracker, kvm.fd(), nullptr, &log), 0) << dt_last_error();
    } else {
        dt_ring_opts o = {.sz = sizeof o,
                          .entries = mode == Mode::ring_with_reaper ? 4096u : 256u,
                          .rearm =
                              [](void* v) {
                                  dtrack::Status s = static_cast<dtvm::KvmVm*>(v)->rearm_dirty_logging();
                                  return s ? 0 : -(s.error().errno_value ? s.error().errno_value : EIO);
                              },
                          .rearm_user = &kvm};
        ASSERT_EQ(dt_ring_enable(tracker, kvm.fd(), &o, &ring), 0) << dt_last_error();  // before any vCPU
    }
    ASSERT_TRUE(vm.create_vcpus().ok());
    if (ring) {
        ASSERT_EQ(dt_ring_add_vcpu(ring, kvm.vcpu_fd(0), 0), 0) << dt_last_error();
        kvm.on_ring_full([ring, own = mode == Mode::ring_small_own_exits](uint32_t vcpu) -> dtrack::Status {
            if ((own ? dt_ring_on_full_own(ring, vcpu) : dt_ring_on_full(ring, vcpu)) == 0) return dtrack::Ok{};
            return dtrack::Error{EIO, dt_last_error(), ""};
        });
        if (mode == Mode::ring_with_reaper) {
            ASSERT_EQ(dt_ring_start_reaper(ring), 0);
        }
    }

    const uint64_t wss = vm.workload_max_pages();
    ASSERT_TRUE(
        vm.start(
              {.pattern = dtvm::Pattern::random, .wss_pages = wss, .rate_per_vcpu = 20000, .seed = 7, .exit_every = 64})
            .ok());
    uint64_t written_in_all = 0;
    for (int epoch = 1; epoch <= 3; ++epoch) {
        std::this_thread::sleep_for(100ms);
        vm.pause();
        ASSERT_EQ(vm.failure(), "");
        const EpochCheck c = check_epoch(vm, tracker);
        EXPECT_EQ(c.missed, 0u) << "epoch " << epoch << ": " << c.missed << " of " << c.written
                                << " written pages were not reported";
        if (epoch > 1) {  // the dirty log reports every page the first time (INITIALLY_SET)
            EXPECT_LE(c.reported, c.written + 8)
                << "epoch " << epoch << ": pages reported that the guest did not write";
        }
        written_in_all += c.written;
        vm.set_epoch(vm.epoch() + 1);
        vm.resume();
    }
    vm.stop();
    EXPECT_GT(written_in_all, 0u) << "the guest wrote nothing: the check proves nothing";
    if (ring) {
        dt_ring_counters rc = {.sz = sizeof rc};
        ASSERT_EQ(dt_ring_get_counters(ring, &rc), 0);
        EXPECT_GT(rc.resets, 0u);
        if (mode != Mode::ring_with_reaper) {
            EXPECT_GT(rc.full_exits, 0u) << "no vCPU went through dt_ring_on_full";
        }
        dt_ring_stop_reaper(ring);
    } else {
        std::printf("  KVM_CLEAR_DIRTY_LOG (manual protection): %s\n", dt_log_manual_protect(log) ? "yes" : "no");
    }
    dt_counters c = {.sz = sizeof c};
    ASSERT_EQ(dt_get_counters(tracker, &c), 0);
    EXPECT_EQ(c.failures, 0u);
    created.value().reset();  // vCPUs gone before the tracker (a vCPU thread may be inside dt_ring_on_full)
    dt_tracker_destroy(tracker);
}

INSTANTIATE_TEST_SUITE_P(Modes, CApiKvm,
                         testing::Values(Mode::ring_small_no_reaper, Mode::ring_small_own_exits, Mode::ring_with_reaper,
                                         Mode::log),
                         [](const testing::TestParamInfo<Mode>& i) { return std::string(mode_name(i.param)); });

}  // namespace
