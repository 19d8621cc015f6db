// --write-bytes on both backends: a page write rewrites the first N bytes of
// the page, the stamp at offset 0 and random words after it, and nothing
// beyond. A paced sequential writer is paused part-way through its part; the
// k-th page it wrote must hold its stamp, then words 1 .. N/8-1 equal to the
// fill PRNG's numbers in the order guest.S draws them (last word first), then
// zeros; the pages it has not reached are all zero. On KVM this checks the
// assembly against PageFill; on the process backend, PageFill's use.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "dtvm/guest/guest_layout.hpp"
#include "dtvm/guest/page_fill.hpp"
#include "dtvm/guest/workload_cursor.hpp"
#include "dtvm/vm/vm.hpp"
#include "support/backends.hpp"

namespace {

class WriteBytes : public testing::TestWithParam<dtvm::Backend> {};

uint64_t word_at(const uint8_t* page, uint64_t i) {
    uint64_t w;
    std::memcpy(&w, page + 8 * i, 8);
    return w;
}

TEST_P(WriteBytes, EachPageWriteFillsItsFirstNBytesWithTheFillSequenceAndNothingBeyond) {
    DTRACK_REQUIRE_BACKEND(GetParam());
    constexpr uint32_t write_bytes = 256;
    const dtvm::VmOptions options{.mem_bytes = 64ULL << 20, .slots = 1, .vcpus = 1, .backend = GetParam()};
    auto vm = dtvm::Vm::create(options);
    ASSERT_TRUE(vm.ok()) << vm.error().message();
    dtvm::Vm& v = *vm.value();
    ASSERT_TRUE(v.create_vcpus().ok());
    ASSERT_TRUE(v.start({.pattern = dtvm::Pattern::sequential,
                         .wss_pages = 8192,
                         .rate_per_vcpu = 20000,
                         .seed = 7,
                         .exit_every = 64,
                         .write_bytes = write_bytes})
                    .ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    v.pause();
    ASSERT_EQ(v.failure(), "");
    const uint64_t writes = v.stats(0).writes;
    ASSERT_GT(writes, 500u);
    ASSERT_LT(writes, 8000u) << "the sweep wrapped: pages were written twice";

    const dtvm::Slot& slot = v.slots()[0];
    const dtvm::GuestLayout layout = dtvm::GuestLayout::compute(options.mem_bytes, options.vcpus);
    const dtvm::ParamPage params(slot.host + layout.param_gpa(0));
    dtvm::WorkloadCursor cursor(params);
    dtvm::PageFill fill(params);
    ASSERT_EQ(fill.words(), write_bytes / 8);
    uint64_t wrong_fill = 0, written_beyond = 0, untouched_written = 0;
    for (uint64_t k = 0; k < 8192; ++k) {
        const uint8_t* page = slot.host + cursor.next_gpa();
        if (k == writes) continue;  // a KVM vCPU may have paused part-way through this one
        for (uint64_t i = 1; i < 512; ++i) {
            const uint64_t word = word_at(page, 512 - i);  // words N/8-1 .. 1 are drawn in that order
            if (k > writes) untouched_written += word != 0;
            else if (512 - i >= fill.words()) written_beyond += word != 0;
        }
        if (k > writes) {
            untouched_written += word_at(page, 0) != 0;
            continue;
        }
        EXPECT_EQ(word_at(page, 0), 1u << 8) << "page " << k << ": the stamp of epoch 1, vCPU 0";
        for (uint64_t i = fill.words() - 1; i >= 1; --i) wrong_fill += word_at(page, i) != fill.next();
    }
    EXPECT_EQ(wrong_fill, 0u) << "words 1.." << fill.words() - 1 << " differ from the fill sequence";
    EXPECT_EQ(written_beyond, 0u) << "words past --write-bytes were written";
    EXPECT_EQ(untouched_written, 0u) << "pages the sweep had not reached hold data";
    v.stop();
}

INSTANTIATE_TEST_SUITE_P(EveryBackend, WriteBytes, testing::Values(dtvm::Backend::kvm, dtvm::Backend::process),
                         [](const auto& info) { return dtvm::backend_name(info.param); });

}  // namespace
