// Memory of the test itself for the sources to track: a private anonymous
// buffer that unmaps itself, its host-virtual Region, and UffdSource::track
// that skips where the kernel lacks userfaultfd write-protection.
#pragma once

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>

#include <gtest/gtest.h>

#include "dtrack/tracker.hpp"
#include "dtrack/uffd_source.hpp"

namespace dtrack_test {

struct AnonBuffer {
    static constexpr uint64_t page_size = 4096;

    explicit AnonBuffer(uint64_t pages) : pages(pages) {
        void* p = ::mmap(nullptr, pages * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        base = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
    }
    ~AnonBuffer() {
        if (base) ::munmap(base, pages * page_size);
    }
    AnonBuffer(const AnonBuffer&) = delete;
    AnonBuffer& operator=(const AnonBuffer&) = delete;

    uint64_t address() const { return reinterpret_cast<uint64_t>(base); }
    char* page(uint64_t i) const { return base + i * page_size; }
    void write(uint64_t i, char value = 1) const {
        *reinterpret_cast<volatile char*>(page(i) + (i * 97) % page_size) = value;
    }

    uint64_t pages;
    char* base;
};

inline dtrack::Region region_of(const AnonBuffer& b, const char* name = "buffer") {
    return dtrack::Region{.name = name,
                          .space = dtrack::AddressSpace::host_virtual,
                          .base = b.address(),
                          .page_size = AnonBuffer::page_size,
                          .page_count = b.pages};
}

}  // namespace dtrack_test

// `auto var = UffdSource::track(tracker, id)`, skipping where the kernel
// lacks the mechanism (docs/ARCHITECTURE.md §6: the project's machines have it).
#define UFFD_TRACK_OR_SKIP(var, tracker, id)                                                \
    auto var = dtrack::UffdSource::track(tracker, id);                                      \
    if (!var && (var.error().errno_value == ENOTSUP || var.error().errno_value == ENOTTY || \
                 var.error().errno_value == ENOSYS))                                        \
        GTEST_SKIP() << var.error().message();                                              \
    ASSERT_TRUE(var.ok()) << var.error().message()
