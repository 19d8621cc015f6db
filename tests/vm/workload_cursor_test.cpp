// One workload definition for both backends: the process backend's
// WorkloadCursor picks exactly the pages guest.S picks from the same
// parameter page, so a seed means the same thing on both. Each backend runs a
// paced vCPU for a while and is paused; the pages stamped with epoch 1 must be
// the first W pages the cursor yields, W being the writes the vCPU counted.
// On KVM this checks the assembly against the C++; on the process backend,
// the plumbing around the cursor. With a reader vCPU beside the writer the
// same holds: the reader reads (it counts reads, no writes) and changes no
// page, so the stamps are exactly the writer's.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "dtvm/guest/guest_layout.hpp"
#include "support/backends.hpp"
#include "dtvm/vm/vm.hpp"
#include "dtvm/guest/workload_cursor.hpp"

namespace {

struct Case {
    dtvm::Backend backend;
    dtvm::Pattern pattern;
};

class WorkloadCursor : public testing::TestWithParam<Case> {};

// vCPU 0 writes; `readers` reader vCPUs run beside it.
void expect_pages_written_are_the_cursors_first_pages(const Case& c, uint32_t readers) {
    const dtvm::VmOptions options{
        .mem_bytes = 64ULL << 20, .slots = 1, .vcpus = 1, .readers = readers, .backend = c.backend};
    auto vm = dtvm::Vm::create(options);
    ASSERT_TRUE(vm.ok()) << vm.error().message();
    dtvm::Vm& v = *vm.value();
    ASSERT_TRUE(v.create_vcpus().ok());
    // Fewer writes than the part has pages, paced so the vCPU parks at an exit.
    ASSERT_TRUE(
        v.start({.pattern = c.pattern, .wss_pages = 8192, .rate_per_vcpu = 20000, .seed = 42, .exit_every = 64}).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    v.pause();
    ASSERT_EQ(v.failure(), "");
    const uint64_t writes = v.stats(0).writes;
    ASSERT_GT(writes, 500u);
    EXPECT_EQ(v.stats(0).reads, 0u);
    for (uint32_t r = 1; r <= readers; ++r) {
        EXPECT_EQ(v.role(r), dtvm::VcpuRole::reader);
        EXPECT_GT(v.stats(r).reads, 0u) << "reader vCPU " << r;
        EXPECT_EQ(v.stats(r).writes, 0u) << "reader vCPU " << r;
    }

    const dtvm::Slot& slot = v.slots()[0];
    std::set<uint64_t> stamped;
    uint64_t other_words = 0;  // neither the writer's stamp nor untouched
    for (uint64_t p = v.workload_first_page(); p < slot.pages; ++p) {
        const uint64_t word = v.stamp(slot, p);
        if (word == (1u << 8 | 0)) stamped.insert(p);
        else other_words += word != 0;
    }
    EXPECT_EQ(other_words, 0u);

    const dtvm::GuestLayout layout = dtvm::GuestLayout::compute(options.mem_bytes, options.vcpus + readers);
    const dtvm::ParamPage writer_params(slot.host + layout.param_gpa(0));
    EXPECT_EQ(writer_params.read(dtvm::guest_abi::kParamPartPages), 8192u) << "readers took part of the writer's part";
    dtvm::WorkloadCursor cursor(writer_params);
    std::set<uint64_t> expected;
    for (uint64_t i = 0; i < writes; ++i) expected.insert(cursor.next_gpa() >> dtvm::kPageShift);

    EXPECT_EQ(stamped.size(), expected.size()) << writes << " writes";
    EXPECT_TRUE(stamped == expected) << "the pages written differ from the cursor's";
    v.stop();
}

TEST_P(WorkloadCursor, PagesWrittenAreTheCursorsFirstPages) {
    DTRACK_REQUIRE_BACKEND(GetParam().backend);
    expect_pages_written_are_the_cursors_first_pages(GetParam(), 0);
}

TEST_P(WorkloadCursor, TwoReadersBesideTheWriterChangeNoPage) {
    DTRACK_REQUIRE_BACKEND(GetParam().backend);
    expect_pages_written_are_the_cursors_first_pages(GetParam(), 2);
}

INSTANTIATE_TEST_SUITE_P(
    EveryBackendAndPattern, WorkloadCursor, testing::ValuesIn([] {
        std::vector<Case> cases;
        for (auto b : {dtvm::Backend::kvm, dtvm::Backend::process})
            for (auto p : {dtvm::Pattern::sequential, dtvm::Pattern::random, dtvm::Pattern::hotcold})
                cases.push_back({b, p});
        return cases;
    }()),
    [](const auto& info) {
        return dtvm::backend_name(info.param.backend) + "_" + dtvm::pattern_name(info.param.pattern);
    });

}  // namespace
