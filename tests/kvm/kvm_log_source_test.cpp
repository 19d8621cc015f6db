// KvmLogSource against a real KVM memslot: KVM_GET_DIRTY_LOG copies the
// memslot's whole bitmap, whatever the buffer it is given, so a Region
// smaller than its memslot must be refused, not overflow the heap.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <gtest/gtest.h>

#include "dtrack/kvm_log_source.hpp"
#include "dtrack/unique_fd.hpp"
#include "support/backends.hpp"

namespace {

constexpr uint64_t slot_pages = 4096;  // its bitmap: 512 bytes

// A VM with one memslot of `slot_pages` pages, dirty logging on.
struct OneSlotVm {
    dtrack::UniqueFd kvm{::open("/dev/kvm", O_RDWR | O_CLOEXEC)};
    dtrack::UniqueFd vm;
    void* memory = MAP_FAILED;

    ~OneSlotVm() {
        if (memory != MAP_FAILED) ::munmap(memory, slot_pages * 4096);
    }
    // Call after KvmLogSource::enable (manual protection comes first).
    ::testing::AssertionResult add_slot() {
        memory = ::mmap(nullptr, slot_pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
        if (memory == MAP_FAILED) return ::testing::AssertionFailure() << "mmap";
        kvm_userspace_memory_region region{.slot = 0,
                                           .flags = KVM_MEM_LOG_DIRTY_PAGES,
                                           .guest_phys_addr = 0,
                                           .memory_size = slot_pages * 4096,
                                           .userspace_addr = reinterpret_cast<uint64_t>(memory)};
        if (::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return ::testing::AssertionFailure() << "KVM_SET_USER_MEMORY_REGION";
        return ::testing::AssertionSuccess();
    }
};

// With manual protection or not: a VM with one memslot and a tracker whose
// region for it has `region_pages` pages.
class KvmLogSourceRegions : public ::testing::TestWithParam<bool> {
protected:
    ::testing::AssertionResult start(uint64_t region_pages) {
        if (!v.kvm.valid()) return ::testing::AssertionFailure() << "open /dev/kvm";
        v.vm.reset(::ioctl(v.kvm.get(), KVM_CREATE_VM, 0));
        if (!v.vm.valid()) return ::testing::AssertionFailure() << "KVM_CREATE_VM";
        id = tracker.add_region({.name = "slot 0", .slot = 0, .page_count = region_pages}).value();
        auto log = dtrack::KvmLogSource::enable(v.vm.get(), tracker, {.manual_protect = GetParam()});
        if (!log) return ::testing::AssertionFailure() << log.error().message();
        source = std::move(log.value());
        return v.add_slot();
    }
    OneSlotVm v;
    dtrack::Tracker tracker;
    dtrack::RegionId id = 0;
    std::unique_ptr<dtrack::KvmLogSource> source;
};

TEST_P(KvmLogSourceRegions, ARegionSmallerThanItsMemslotIsRefusedNotOverflowed) {
    DTRACK_REQUIRE_KVM();
    ASSERT_TRUE(start(64));
    for (int i = 0; i < 3; ++i) {  // refused every time, and the heap stays whole
        auto r = source->harvest(tracker);
        ASSERT_FALSE(r.ok()) << "a 64-page Region over a " << slot_pages << "-page memslot was harvested";
        EXPECT_EQ(r.error().errno_value, EFAULT);
        EXPECT_NE(r.error().fix.find("more pages than its Region (64)"), std::string::npos) << r.error().message();
    }
    EXPECT_EQ(tracker.bitmap(id).count(), 64u) << "what the kernel may have taken is covered";
}

TEST_P(KvmLogSourceRegions, ARegionTheSizeOfItsMemslotIsHarvested) {
    DTRACK_REQUIRE_KVM();
    ASSERT_TRUE(start(slot_pages));
    auto r = source->harvest(tracker);
    ASSERT_TRUE(r.ok()) << r.error().message();
    // Manual protection starts with every page dirty (INITIALLY_SET); plain
    // dirty logging with none, as no vCPU ran.
    EXPECT_EQ(tracker.bitmap(id).count(), source->manual_protect() ? slot_pages : 0u);
}

INSTANTIATE_TEST_SUITE_P(Protection, KvmLogSourceRegions, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& i) {
                             return i.param ? "ManualProtect" : "GetDirtyLogOnly";
                         });

}  // namespace
