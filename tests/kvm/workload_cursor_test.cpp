// One workload definition for both backends: the process backend's
// WorkloadCursor picks exactly the pages guest.S picks from the same
// parameter page, so a seed means the same thing on both. Each backend runs a
// paced vCPU for a while and is paused; the pages stamped with epoch 1 must be
// the first W pages the cursor yields, W being the writes the vCPU counted.
// On KVM this checks the assembly against the C++; on the process backend,
// the plumbing around the cursor.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "guest_layout.hpp"
#include "support/backends.hpp"
#include "vm.hpp"
#include "workload_cursor.hpp"

namespace {

struct Case {
    dtvm::Backend backend;
    dtvm::Pattern pattern;
};

class WorkloadCursor : public testing::TestWithParam<Case> {};

TEST_P(WorkloadCursor, PagesWrittenAreTheCursorsFirstPages) {
    const Case c = GetParam();
    DTRACK_REQUIRE_BACKEND(c.backend);
    const dtvm::VmOptions options{.mem_bytes = 64ULL << 20, .slots = 1, .vcpus = 1, .backend = c.backend};
    auto vm = dtvm::Vm::create(options);
    ASSERT_TRUE(vm.ok()) << vm.error().message();
    dtvm::Vm& v = *vm.value();
    ASSERT_TRUE(v.create_vcpus().ok());
    // Fewer writes than the part has pages, paced so the vCPU parks at an exit.
    ASSERT_TRUE(v.start({.pattern = c.pattern, .wss_pages = 8192, .rate_per_vcpu = 20000, .seed = 42,
                         .exit_every = 64})
                    .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    v.pause();
    ASSERT_EQ(v.failure(), "");
    const uint64_t writes = v.stats(0).writes;
    ASSERT_GT(writes, 500u);

    const dtvm::Slot& slot = v.slots()[0];
    std::set<uint64_t> stamped;
    for (uint64_t p = v.workload_first_page(); p < slot.pages; ++p)
        if (v.stamp(slot, p) == (1u << 8 | 0)) stamped.insert(p);

    const dtvm::GuestLayout layout = dtvm::GuestLayout::compute(options.mem_bytes, options.vcpus);
    dtvm::WorkloadCursor cursor(dtvm::ParamPage(slot.host + layout.param_gpa(0)));
    std::set<uint64_t> expected;
    for (uint64_t i = 0; i < writes; ++i) expected.insert(cursor.next_gpa() >> dtvm::kPageShift);

    EXPECT_EQ(stamped.size(), expected.size()) << writes << " writes";
    EXPECT_TRUE(stamped == expected) << "the pages written differ from the cursor's";
    v.stop();
}

INSTANTIATE_TEST_SUITE_P(
    EveryBackendAndPattern, WorkloadCursor,
    testing::ValuesIn([] {
        std::vector<Case> cases;
        for (auto b : {dtvm::Backend::kvm, dtvm::Backend::process})
            for (auto p : {dtvm::Pattern::sequential, dtvm::Pattern::random, dtvm::Pattern::hotcold})
                cases.push_back({b, p});
        return cases;
    }()),
    [](const auto& info) { return dtvm::backend_name(info.param.backend) + "_" + dtvm::pattern_name(info.param.pattern); });

}  // namespace
