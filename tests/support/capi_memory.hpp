// For the C ABI's tests: memory of the test process to track, and the dirty
// pages taken through dtrack.h as a set.
#pragma once

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <set>

#include <gtest/gtest.h>

#include "dtrack/dtrack.h"

namespace capi_test {

constexpr uint64_t page_bytes = 4096;

// Anonymous private pages, every one present (zeroed) before tracking starts.
class Pages {
public:
    explicit Pages(uint64_t count) : count_(count) {
        void* p = ::mmap(nullptr, count * page_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p != MAP_FAILED) {
            data_ = static_cast<uint8_t*>(p);
            std::memset(data_, 0, count * page_bytes);
        }
    }
    ~Pages() {
        if (data_) ::munmap(data_, count_ * page_bytes);
    }
    Pages(const Pages&) = delete;
    Pages& operator=(const Pages&) = delete;

    uint8_t* data() const { return data_; }
    uint64_t count() const { return count_; }
    uint8_t* page(uint64_t i) const { return data_ + i * page_bytes; }
    // One byte in page i, somewhere other than its start.
    void write(uint64_t i, uint8_t value) const {
        *reinterpret_cast<volatile uint8_t*>(page(i) + (i * 131) % page_bytes) = value;
    }

private:
    uint64_t count_;
    uint8_t* data_ = nullptr;
};

// Takes the region's dirty pages through dt_take_pages.
inline std::set<uint64_t> take_pages(dt_tracker* tracker, uint32_t region, uint64_t pages) {
    std::set<uint64_t> taken;
    const int64_t n = dt_take_pages(
        tracker, region, 0, pages,
        [](void* user, uint64_t page) { static_cast<std::set<uint64_t>*>(user)->insert(page); }, &taken);
    EXPECT_EQ(n, static_cast<int64_t>(taken.size())) << dt_last_error();
    return taken;
}

// A tracker with one host range over `pages`, tracked with userfaultfd.
struct UffdTracker {
    explicit UffdTracker(const Pages& pages) {
        if (dt_tracker_create(&tracker) != 0) return;
        region = dt_add_host_range(tracker, "test pages", pages.data(), pages.count());
        if (region >= 0) tracked = dt_uffd_track(tracker, uint32_t(region));
    }
    ~UffdTracker() { dt_tracker_destroy(tracker); }
    UffdTracker(const UffdTracker&) = delete;
    UffdTracker& operator=(const UffdTracker&) = delete;

    dt_tracker* tracker = nullptr;
    int region = -1;
    int tracked = -1;  // dt_uffd_track's return
};

}  // namespace capi_test

// Sets up a UffdTracker `var`, skipping where the kernel has no WP_ASYNC or
// PAGEMAP_SCAN (Linux < 6.7; the project's machines have both).
#define CAPI_UFFD_OR_SKIP(var, pages)                                                                                 \
    capi_test::UffdTracker var(pages);                                                                                \
    ASSERT_NE(var.tracker, nullptr);                                                                                  \
    ASSERT_GE(var.region, 0) << dt_last_error();                                                                      \
    if (var.tracked == -ENOTSUP || var.tracked == -ENOTTY || var.tracked == -ENOSYS) GTEST_SKIP() << dt_last_error(); \
    ASSERT_EQ(var.tracked, 0) << dt_last_error()
