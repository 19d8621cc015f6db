// Guest RAM: one anonymous host mapping, split into KVM memslots.
#pragma once

#include <cstdint>
#include <vector>

#include "dtrack/error.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

class GuestMemory {
public:
    // Reserves `bytes` (a multiple of 4 KiB) of zeroed memory; pages are only
    // backed when first touched (MAP_NORESERVE), so large guests are cheap.
    static dtrack::Result<GuestMemory> map(uint64_t bytes);

    GuestMemory(GuestMemory&& other) noexcept;
    GuestMemory& operator=(GuestMemory&& other) noexcept;
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;
    ~GuestMemory();

    uint8_t* host() const { return host_; }
    uint64_t bytes() const { return bytes_; }
    uint64_t pages() const { return bytes_ >> 12; }

private:
    GuestMemory(uint8_t* host, uint64_t bytes) : host_(host), bytes_(bytes) {}
    uint8_t* host_ = nullptr;
    uint64_t bytes_ = 0;
};

// Memslots 0..count-1 at contiguous guest-physical addresses from 0: each
// gets pages/count pages, the last one also the remainder.
std::vector<Slot> split_into_slots(const GuestMemory& memory, uint32_t count);

// KVM_SET_USER_MEMORY_REGION for each slot; KVM_MEM_LOG_DIRTY_PAGES on all
// of them when `dirty_logging` (the dirty ring needs it too).
dtrack::Status register_slots(int vm_fd, const std::vector<Slot>& slots, bool dirty_logging);

}  // namespace dtvm
