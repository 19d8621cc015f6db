// An anonymous private mapping that unmaps itself: scratch memory for the
// write-tracking probes (userfaultfd, PAGEMAP_SCAN, soft-dirty, KVM slots).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace dtrack::probe {

class AnonMapping {
public:
    // Maps `pages` pages read-write; check valid() afterwards (errno is set).
    explicit AnonMapping(std::size_t pages) : size_(pages * page_size()) {
        void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        base_ = (p == MAP_FAILED) ? nullptr : static_cast<char*>(p);
    }
    AnonMapping(AnonMapping&& other) noexcept
        : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    AnonMapping(const AnonMapping&) = delete;
    AnonMapping& operator=(const AnonMapping&) = delete;
    AnonMapping& operator=(AnonMapping&&) = delete;
    ~AnonMapping() {
        if (base_) ::munmap(base_, size_);
    }

    bool valid() const { return base_ != nullptr; }
    char* base() const { return base_; }
    std::size_t size() const { return size_; }
    char* page(std::size_t index) const { return base_ + index * page_size(); }
    std::uint64_t address() const { return reinterpret_cast<std::uint64_t>(base_); }

    static std::size_t page_size() { return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)); }

private:
    char* base_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace dtrack::probe
