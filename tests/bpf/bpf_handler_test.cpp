// The handlers of bpf/dirty_ring.bpf.c, run on made-up tracepoint arguments
// through BPF_PROG_TEST_RUN: the programs are loaded but never attached, so
// only the test's own input reaches them.
//
// A test run executes in this process, so a program whose target is our own
// pid sees "the target" and one aimed at another pid does not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <bit>
#include <cerrno>
#include <cstddef>
#include <memory>
#include <vector>

#include "probe/probes.hpp"
#include "sources/dirty_ring_program.hpp"
#include "support/bpf_test_run.hpp"

namespace {

using dtrack::DirtyRingHook;
using dtrack::DirtyRingProgram;

// struct kvm_dirty_ring as include/linux/kvm_dirty_ring.h lays it out. The
// tracepoint passes a kernel pointer to one; a test run passes a pointer to
// this, in our memory, and the handler reads it from there (see ring_index()
// in dirty_ring.bpf.c).
struct FakeRing {
    uint32_t dirty_index = 0;
    uint32_t reset_index = 0;
    uint32_t size = 4096;
    uint32_t soft_limit = 4096 - 64;
    uint64_t dirty_gfns = 0;
    int32_t index = 0;  // the vCPU id
};
static_assert(offsetof(FakeRing, index) == 24, "the kernel's layout on 64-bit");

constexpr uint32_t slot_count = 4;
// Slot 0: 128 pages, slot 1: 100 (not a multiple of 64), slot 2 untracked, slot 3: 64.
const std::vector<uint64_t> capacity = {128, 100, 0, 64};
constexpr uint32_t max_vcpus = 8;
constexpr uint64_t x86_pf_user = 1 << 2, x86_pf_write = 1 << 1;

class BpfHandler : public testing::Test {
protected:
    void SetUp() override {
        if (!dtrack::may_load_tracing_bpf()) GTEST_SKIP() << "needs root or CAP_BPF+CAP_PERFMON to load BPF programs";
    }

    // Loads (without attaching) the raw_tp programs, aimed at process `tgid`.
    std::unique_ptr<DirtyRingProgram> load(pid_t tgid) {
        return dtrack_test::load_for_test_runs(DirtyRingProgram::open(), [&](DirtyRingProgram& p) {
            dtrack::DirtyRingLayout layout{
                .target_tgid = tgid, .capacity = capacity, .words_per_slot = 2, .max_vcpus = max_vcpus};
            return p.configure(layout, dtrack::HookFamily::raw_tracepoint);
        });
    }

    // Runs the raw_tp entry point of `hook` once on `args` (the tracepoint's
    // arguments, one u64 each). False when the kernel cannot test-run raw_tp.
    bool run(DirtyRingProgram& program, DirtyRingHook hook, std::vector<uint64_t> args) {
        return dtrack_test::test_run_raw_tp(program.program_fd(hook), std::move(args), no_test_run_);
    }

    bool push(DirtyRingProgram& program, FakeRing& ring, uint32_t slot, uint64_t offset) {
        return run(program, DirtyRingHook::push, {reinterpret_cast<uint64_t>(&ring), slot, offset});
    }

    // Every set bit of every slot, as (slot, page).
    static std::vector<std::pair<uint32_t, uint64_t>> set_bits(DirtyRingProgram& program) {
        std::vector<std::pair<uint32_t, uint64_t>> bits;
        for (uint32_t s = 0; s < program.layout().bitmap_slots(); ++s) {
            std::span<uint64_t> words = program.slot_words(s);
            for (size_t w = 0; w < words.size(); ++w)
                for (uint64_t b = words[w]; b; b &= b - 1) bits.emplace_back(s, w * 64 + std::countr_zero(b));
        }
        return bits;
    }

    bool no_test_run_ = false;
};

#define RUN_OR_SKIP(call) RAW_TP_RUN_OR_SKIP(call, no_test_run_)

using Bits = std::vector<std::pair<uint32_t, uint64_t>>;

TEST_F(BpfHandler, PushOfTheTargetSetsExactlyThatBitAndCountsItsVcpu) {
    auto program = load(::getpid());
    ASSERT_TRUE(program);
    FakeRing ring{.index = 3};
    RUN_OR_SKIP(push(*program, ring, 1, 77));

    EXPECT_EQ(set_bits(*program), (Bits{{1, 77}}));
    EXPECT_EQ(program->slot_words(1)[1], 1ULL << 13);
    for (uint32_t v = 0; v < max_vcpus; ++v) EXPECT_EQ(program->vcpu(v).pushes, v == 3 ? 1u : 0u) << "vCPU " << v;
    EXPECT_EQ(program->seen_end(1), 78u);
    const dtrack_dirty_ring_totals t = program->totals();
    EXPECT_EQ(t.lost_address_space + t.lost_slot + t.lost_offset + t.unknown_vcpu, 0u);

    // Again, the same page from another vCPU: one bit, two pushes.
    ring.index = 5;
    RUN_OR_SKIP(push(*program, ring, 1, 77));
    EXPECT_EQ(set_bits(*program), (Bits{{1, 77}}));
    EXPECT_EQ(program->vcpu(3).pushes, 1u);
    EXPECT_EQ(program->vcpu(5).pushes, 1u);

    // The edges of each tracked slot.
    RUN_OR_SKIP(push(*program, ring, 0, 0));
    RUN_OR_SKIP(push(*program, ring, 0, 127));
    RUN_OR_SKIP(push(*program, ring, 1, 99));
    RUN_OR_SKIP(push(*program, ring, 3, 63));
    EXPECT_EQ(set_bits(*program), (Bits{{0, 0}, {0, 127}, {1, 77}, {1, 99}, {3, 63}}));
    EXPECT_EQ(program->vcpu(5).pushes, 5u);
}

TEST_F(BpfHandler, PushOfAnotherProcessChangesNothing) {
    // A pid that is not ours (and not a real process either).
    auto program = load(::getpid() + 1000000);
    ASSERT_TRUE(program);
    FakeRing ring{.index = 1};
    RUN_OR_SKIP(push(*program, ring, 0, 5));
    EXPECT_TRUE(set_bits(*program).empty());
    for (uint32_t v = 0; v < max_vcpus; ++v) EXPECT_EQ(program->vcpu(v).pushes, 0u);
    EXPECT_EQ(program->seen_end(0), 0u);
    const dtrack_dirty_ring_totals t = program->totals();
    EXPECT_EQ(t.lost_address_space + t.lost_slot + t.lost_offset + t.unknown_vcpu, 0u);
}

TEST_F(BpfHandler, PushesOutsideTheTrackedSlotsAreLostAndSetNoBit) {
    auto program = load(::getpid());
    ASSERT_TRUE(program);
    FakeRing ring{.index = 2};
    RUN_OR_SKIP(push(*program, ring, slot_count + 3, 0));  // beyond the watched slot ids
    RUN_OR_SKIP(push(*program, ring, 2, 0));               // a watched id without a region
    RUN_OR_SKIP(push(*program, ring, 1, 100));             // slot 1 has 100 pages: 0..99
    RUN_OR_SKIP(push(*program, ring, 0, 1ULL << 40));      // far beyond
    RUN_OR_SKIP(push(*program, ring, 1u << 16 | 0, 3));    // address space 1, slot 0

    EXPECT_TRUE(set_bits(*program).empty());
    const dtrack_dirty_ring_totals t = program->totals();
    EXPECT_EQ(t.lost_slot, 2u);
    EXPECT_EQ(t.lost_offset, 2u);
    EXPECT_EQ(t.lost_address_space, 1u);
    // Still ring entries of vCPU 2; and the slots' real extent is learnt.
    EXPECT_EQ(program->vcpu(2).pushes, 5u);
    EXPECT_EQ(program->seen_end(1), 101u);
    EXPECT_EQ(program->seen_end(2), 1u);
    EXPECT_EQ(program->seen_end(0), (1ULL << 40) + 1);
}

TEST_F(BpfHandler, PushWithAnUnreadableRingStillSetsTheBit) {
    auto program = load(::getpid());
    ASSERT_TRUE(program);
    RUN_OR_SKIP(run(*program, DirtyRingHook::push, {0 /* NULL ring */, 3, 9}));
    EXPECT_EQ(set_bits(*program), (Bits{{3, 9}}));
    EXPECT_EQ(program->totals().unknown_vcpu, 1u);
    FakeRing ring{.index = int32_t(max_vcpus)};  // beyond the vcpus map
    RUN_OR_SKIP(push(*program, ring, 3, 10));
    EXPECT_EQ(program->totals().unknown_vcpu, 2u);
    EXPECT_EQ(set_bits(*program), (Bits{{3, 9}, {3, 10}}));
}

TEST_F(BpfHandler, WriteFaultsAreCountedApartFromReadFaults) {
    auto program = load(::getpid());
    ASSERT_TRUE(program);
    const uint64_t address = 0x7f0000001000;
    // page_fault_user(address, regs, error_code)
    RUN_OR_SKIP(run(*program, DirtyRingHook::user_fault, {address, 0, x86_pf_user | x86_pf_write}));
    EXPECT_EQ(program->totals().user_faults, 1u);
    EXPECT_EQ(program->totals().user_write_faults, 1u);
    RUN_OR_SKIP(run(*program, DirtyRingHook::user_fault, {address, 0, x86_pf_user}));
    EXPECT_EQ(program->totals().user_faults, 2u);
    EXPECT_EQ(program->totals().user_write_faults, 1u);
    EXPECT_TRUE(set_bits(*program).empty()) << "a fault is not a dirty-ring page";

    auto other = load(::getpid() + 1000000);
    ASSERT_TRUE(other);
    RUN_OR_SKIP(run(*other, DirtyRingHook::user_fault, {address, 0, x86_pf_user | x86_pf_write}));
    EXPECT_EQ(other->totals().user_faults, 0u);
}

TEST_F(BpfHandler, FullExitsAndResetsCountPerVcpu) {
    auto program = load(::getpid());
    ASSERT_TRUE(program);
    FakeRing ring{.index = 6};
    RUN_OR_SKIP(run(*program, DirtyRingHook::reset, {reinterpret_cast<uint64_t>(&ring)}));
    RUN_OR_SKIP(run(*program, DirtyRingHook::reset, {reinterpret_cast<uint64_t>(&ring)}));
    EXPECT_EQ(program->vcpu(6).resets, 2u);
    EXPECT_EQ(program->vcpu(6).pushes, 0u);
    // kvm_dirty_ring_exit passes a struct kvm_vcpu, whose layout depends on
    // the kernel's config: a NULL one counts as an unknown vCPU.
    RUN_OR_SKIP(run(*program, DirtyRingHook::full_exit, {0}));
    EXPECT_EQ(program->totals().unknown_vcpu, 1u);
}

}  // namespace
