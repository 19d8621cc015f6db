// BpfSource on the running kernel: what attach refuses (and that it then
// changes nothing), the helper for unknown memslots, the process's own write
// faults, and what a harvest costs.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "dtrack/bpf_source.hpp"
#include "probe/probes.hpp"
#include "support/bpf_objects.hpp"

namespace {

using dtrack_test::gone_pid;
using dtrack_test::open_bpf_objects;

TEST(BpfSourceAttach, AMissingProcessIsNamedAndNothingIsLoaded) {
    dtrack::Tracker tracker;
    dtrack::add_slot_regions(tracker, 1, 64).value();
    const int before = open_bpf_objects();
    const pid_t pid = gone_pid();
    auto source = dtrack::BpfSource::attach(pid, tracker);
    ASSERT_FALSE(source.ok());
    EXPECT_EQ(source.error().errno_value, ESRCH);
    EXPECT_EQ(source.error().what, "no process " + std::to_string(pid));
    EXPECT_FALSE(source.error().fix.empty());
    EXPECT_EQ(open_bpf_objects(), before) << "a refused attach left BPF objects behind";

    auto zero = dtrack::BpfSource::attach(0, tracker);
    ASSERT_FALSE(zero.ok());
    EXPECT_NE(zero.error().what.find("pid 0"), std::string::npos) << zero.error().what;
    EXPECT_EQ(open_bpf_objects(), before);
}

TEST(BpfSourceAttach, NeedsAGuestPhysicalRegionOfAddressSpaceZero) {
    DTRACK_REQUIRE_BPF();
    dtrack::Tracker empty;
    empty.add_region({.name = "heap", .space = dtrack::AddressSpace::host_virtual, .base = 0x10000, .page_count = 8})
        .value();
    const int before = open_bpf_objects();
    auto none = dtrack::BpfSource::attach(::getpid(), empty);
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().what.find("no guest-physical region"), std::string::npos) << none.error().what;
    EXPECT_NE(none.error().fix.find("add_slot_regions"), std::string::npos) << none.error().fix;

    dtrack::Tracker smm;
    smm.add_region({.name = "smram", .slot = 1u << 16 | 2, .page_count = 16}).value();
    auto other_space = dtrack::BpfSource::attach(::getpid(), smm);
    ASSERT_FALSE(other_space.ok());
    EXPECT_NE(other_space.error().what.find("address space 1"), std::string::npos) << other_space.error().what;
    EXPECT_EQ(open_bpf_objects(), before);
}

TEST(BpfSource, AddSlotRegionsMakesOneRegionPerSlot) {
    dtrack::Tracker tracker;
    tracker.add_region({.name = "heap", .space = dtrack::AddressSpace::host_virtual, .page_count = 1}).value();
    const dtrack::RegionId first = dtrack::add_slot_regions(tracker, 3, 1000).value();
    EXPECT_EQ(first, 1u);
    ASSERT_EQ(tracker.region_count(), 4u);
    for (uint32_t s = 0; s < 3; ++s) {
        dtrack::RegionId id = 0;
        const dtrack::Region* r = tracker.find_slot(s, &id);
        ASSERT_NE(r, nullptr);
        EXPECT_EQ(id, first + s);
        EXPECT_EQ(r->page_count, 1000u);
        EXPECT_EQ(r->space, dtrack::AddressSpace::guest_physical);
    }
}

TEST(BpfSource, CountsTheProcesssOwnWriteFaultsAsAnEstimate) {
    DTRACK_REQUIRE_BPF();
    dtrack::Tracker tracker;
    dtrack::add_slot_regions(tracker, 1, 64).value();
    auto source = dtrack::BpfSource::attach(::getpid(), tracker);
    ASSERT_TRUE(source.ok()) << source.error().message();
    EXPECT_EQ(source.value()->hooked_with(), "raw tracepoints");
    for (const std::string& note : source.value()->notes()) std::printf("  note: %s\n", note.c_str());

    // Fresh anonymous memory: the first write to each page faults.
    constexpr size_t pages = 256;
    const size_t page = size_t(::sysconf(_SC_PAGESIZE));
    const dtrack::BpfCompanionCounters before = source.value()->companion_counters();
    void* memory = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(memory, MAP_FAILED);
    for (size_t i = 0; i < pages; ++i) static_cast<volatile char*>(memory)[i * page] = 1;
    ::munmap(memory, pages * page);
    const dtrack::BpfCompanionCounters after = source.value()->companion_counters();

    ASSERT_TRUE(after.user_faults_hooked) << "exceptions:page_fault_user did not attach";
    const uint64_t write_faults = after.user_write_faults - before.user_write_faults;
    EXPECT_GE(write_faults, pages);
    EXPECT_GE(after.user_faults - before.user_faults, write_faults);
    std::printf("  %zu pages written: %llu write faults counted (an estimate: faults, not writes)\n", pages,
                (unsigned long long)write_faults);
    // Not a dirty-ring page: nothing to harvest.
    tracker.add_source(std::move(source.value()));
    const dtrack::SyncReport r = tracker.sync();
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.pages, 0u);
}

// What a harvest costs when nothing was dirtied: the scan of the mapped
// words, for a 32 GiB guest in 32 slots (1 MiB of bitmap).
TEST(BpfSource, HarvestCostOfAnIdleLargeGuest) {
    DTRACK_REQUIRE_BPF();
    dtrack::Tracker tracker;
    constexpr uint32_t slots = 32;
    constexpr uint64_t pages_per_slot = 1ULL << 18;  // 1 GiB
    dtrack::add_slot_regions(tracker, slots, pages_per_slot).value();
    auto source = dtrack::BpfSource::attach(::getpid(), tracker, {.count_user_faults = false});
    ASSERT_TRUE(source.ok()) << source.error().message();
    dtrack::BpfSource& bpf = *source.value();
    tracker.add_source(std::move(source.value()));

    constexpr int harvests = 50;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < harvests; ++i) ASSERT_TRUE(tracker.sync().ok());
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count();
    std::printf("  idle harvest of %u slots x %llu pages (%llu KiB of bitmap): %.1f us\n", slots,
                (unsigned long long)pages_per_slot, (unsigned long long)(slots * pages_per_slot / 8 / 1024),
                us / harvests);
    EXPECT_EQ(tracker.counters().pages_per_region.size(), slots);
    EXPECT_EQ(bpf.slot_usage().size(), slots);
    EXPECT_EQ(bpf.lost_counters().total(), 0u);
}

}  // namespace
