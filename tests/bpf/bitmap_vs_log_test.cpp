// BpfBitmapSource against KvmLogSource on the same real KVM guest: dtvm's
// tracker harvests its dirty log (KVM_GET_DIRTY_LOG, and KVM_CLEAR_DIRTY_LOG
// with manual protection) as any bitmap VMM does, from a thread while the
// guest runs and at the end of each epoch, while BpfBitmapSource watches
// this process from the kernel and reads the bitmaps from a thread of its
// own. Over each epoch both must hold the same pages, and every page the
// guest stamped in the epoch must be among them: the write-stamp oracle, for
// the kernel's view of a bitmap VMM, with its readings racing the VMM's
// harvests.
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <chrono>
#include <random>
#include <thread>

#include "dtrack/bpf_bitmap_source.hpp"
#include "dtrack/bpf_source.hpp"  // add_slot_regions
#include "support/backends.hpp"
#include "support/bpf_objects.hpp"
#include "support/dirty_pages.hpp"
#include "dtvm/tracking/tracking.hpp"

namespace {

struct Case {
    const char* name;
    uint32_t vcpus;
    dtvm::Pattern pattern;
    bool manual_protect;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class BitmapVsLog : public testing::TestWithParam<Case> {};

TEST_P(BitmapVsLog, TheKernelsBitmapViewHoldsExactlyThePagesTheVmmHarvests) {
    DTRACK_REQUIRE_KVM();
    DTRACK_REQUIRE_BPF();
    const Case& c = GetParam();
    const dtvm::VmOptions vm_options{.mem_bytes = (64ULL << 20) + 5 * 4096, .slots = 3, .vcpus = c.vcpus};
    auto tracking =
        dtvm::Tracking::create(vm_options, {.mode = dtvm::TrackMode::log, .manual_protect = c.manual_protect});
    ASSERT_TRUE(tracking) << tracking.error().message();
    dtvm::Tracking& t = *tracking.value();
    dtvm::Vm& vm = t.vm();
    ASSERT_EQ(t.log()->manual_protect(), c.manual_protect);
    dtrack::Tracker& log_tracker = t.tracker();

    // The kernel's view: the same regions in a tracker of its own, attached
    // before the guest runs.
    dtrack::Tracker bitmap_tracker;
    for (dtrack::RegionId id = 0; id < log_tracker.region_count(); ++id)
        bitmap_tracker.add_region(log_tracker.region(id)).value();
    auto attached = dtrack::BpfBitmapSource::attach(::getpid(), bitmap_tracker);
    ASSERT_TRUE(attached) << attached.error().message();
    dtrack::BpfBitmapSource& source = *attached.value();
    bitmap_tracker.add_source(std::move(attached.value()));

    const uint64_t seed = std::random_device{}() | 1;
    std::printf("  seed %llu\n", (unsigned long long)seed);
    std::mt19937_64 rng(seed);
    const uint64_t wss = vm.workload_max_pages() - rng() % 64;
    ASSERT_TRUE(
        vm.start({.pattern = c.pattern, .wss_pages = wss, .seed = seed, .exit_every = uint32_t(64 + rng() % 512)}));

    // Each side's pages over the epoch, per slot: what its tracker gave at
    // every harvest in the epoch, together.
    const size_t slots = vm.slots().size();
    std::vector<std::vector<bool>> vmm(slots), kernel(slots);
    const auto clear = [&] {
        for (size_t i = 0; i < slots; ++i) {
            vmm[i].assign(vm.slots()[i].pages, false);
            kernel[i].assign(vm.slots()[i].pages, false);
        }
    };
    std::mutex vmm_mutex, kernel_mutex;
    const auto harvest = [&](dtrack::Tracker& tracker, std::mutex& m, std::vector<std::vector<bool>>& into) {
        std::lock_guard lock(m);
        EXPECT_TRUE(tracker.sync().ok());
        for (size_t i = 0; i < slots; ++i)  // KvmLogSource clears (KVM_CLEAR_DIRTY_LOG) as the pages are taken
            for (uint64_t p : dtrack_test::take_dirty(tracker, static_cast<dtrack::RegionId>(i))) into[i][p] = true;
    };
    clear();

    // While the guest writes: the VMM harvests every 7 ms, the kernel view
    // reads every 3 ms, racing each other. Stopped and joined however the
    // test leaves (a failed ASSERT returns from here).
    struct Harvesters {
        std::atomic<bool> stop{false};
        std::thread vmm, kernel;
        ~Harvesters() {
            stop = true;
            for (std::thread* t : {&vmm, &kernel})
                if (t->joinable()) t->join();
        }
    } harvesters;
    harvesters.vmm = std::thread([&] {
        while (!harvesters.stop.load()) {
            harvest(log_tracker, vmm_mutex, vmm);
            std::this_thread::sleep_for(std::chrono::milliseconds(7));
        }
    });
    harvesters.kernel = std::thread([&] {
        while (!harvesters.stop.load()) {
            harvest(bitmap_tracker, kernel_mutex, kernel);
            std::this_thread::sleep_for(std::chrono::milliseconds(3));
        }
    });

    uint64_t compared = 0;
    for (int epoch = 0; epoch < 8; ++epoch) {
        std::this_thread::sleep_for(std::chrono::milliseconds(60 + rng() % 60));
        ASSERT_TRUE(vm.failure().empty()) << vm.failure();
        vm.pause();
        // The epoch's last harvest on each side, the VMM's first.
        harvest(log_tracker, vmm_mutex, vmm);
        harvest(bitmap_tracker, kernel_mutex, kernel);
        std::scoped_lock lock(vmm_mutex, kernel_mutex);
        const uint64_t first = vm.workload_first_page(), end = first + wss;
        for (size_t i = 0; i < slots; ++i) {
            const dtvm::Slot& slot = vm.slots()[i];
            const std::string where = "epoch " + std::to_string(vm.epoch()) + " slot " + std::to_string(slot.id);
            for (uint64_t p = 0; p < slot.pages; ++p) {
                ASSERT_EQ(vmm[i][p], kernel[i][p])
                    << where << ": page " << p
                    << (vmm[i][p] ? " harvested by the VMM but not seen from the kernel"
                                  : " seen from the kernel but not harvested by the VMM");
                compared += kernel[i][p];
                // Ground truth: every page stamped this epoch was seen.
                const uint64_t guest_page = slot.gpa / 4096 + p;
                if (guest_page >= first && guest_page < end && vm.stamp(slot, p) >> 8 == vm.epoch()) {
                    ASSERT_TRUE(kernel[i][p]) << where << ": page " << p << " was written but not seen from the kernel";
                }
            }
        }
        clear();
        vm.set_epoch(vm.epoch() + 1);
        vm.resume();
    }
    harvesters.stop = true;
    harvesters.vmm.join();
    harvesters.kernel.join();
    vm.stop();
    const dtrack::BpfBitmapCounters counters = source.counters();
    std::printf(
        "  %llu pages compared; %llu readings, %llu VMM harvests seen, %llu pages found by readings, %llu in "
        "harvests\n",
        (unsigned long long)compared, (unsigned long long)counters.readings, (unsigned long long)counters.vmm_harvests,
        (unsigned long long)counters.pages_read, (unsigned long long)counters.pages_harvested);
    EXPECT_GT(compared, 0u) << "the guest dirtied nothing: the comparison proves nothing";
    EXPECT_GT(counters.vmm_harvests, 0u) << "the VMM's harvests were not seen";
    EXPECT_EQ(counters.untracked_pages, 0u);
    EXPECT_EQ(counters.unreadable, 0u);
}

INSTANTIATE_TEST_SUITE_P(BitmapWorkloads, BitmapVsLog,
                         testing::Values(Case{"random_2vcpu_manual_protect", 2, dtvm::Pattern::random, true},
                                         Case{"sequential_1vcpu_manual_protect", 1, dtvm::Pattern::sequential, true},
                                         Case{"random_2vcpu_get_dirty_log", 2, dtvm::Pattern::random, false},
                                         Case{"hotcold_2vcpu_get_dirty_log", 2, dtvm::Pattern::hotcold, false}),
                         [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(BpfBitmapSourceAttach, AMissingProcessIsRefusedWithTheFixAndLoadsNothing) {
    DTRACK_REQUIRE_BPF();
    dtrack::Tracker tracker;
    ASSERT_TRUE(dtrack::add_slot_regions(tracker, 4, 1024));
    const int before = dtrack_test::open_bpf_objects();
    auto source = dtrack::BpfBitmapSource::attach(dtrack_test::gone_pid(), tracker);
    ASSERT_FALSE(source);
    EXPECT_EQ(source.error().errno_value, ESRCH) << source.error().message();
    EXPECT_EQ(dtrack_test::open_bpf_objects(), before);
}

TEST(BpfBitmapSourceAttach, ATrackerWithoutMemslotRegionsIsRefusedWithTheFix) {
    DTRACK_REQUIRE_BPF();
    dtrack::Tracker tracker;
    auto source = dtrack::BpfBitmapSource::attach(::getpid(), tracker);
    ASSERT_FALSE(source);
    EXPECT_NE(source.error().fix.find("add_slot_regions"), std::string::npos) << source.error().message();
}

}  // namespace
