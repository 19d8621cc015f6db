// A tracked range of memory: a KVM memslot (guest-physical) or a host virtual range.
#pragma once

#include <cstdint>
#include <string>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

using RegionId = uint32_t;

enum class AddressSpace : uint8_t {
    guest_physical,  // a KVM memslot: `slot` and a guest-physical `base`
    host_virtual,    // a range of a process's address space: `base` is a virtual address
};

// Addresses [begin, end) of a process.
struct AddressRange {
    uint64_t begin = 0, end = 0;
};

struct Region {
    std::string name;  // for people: "slot 0", "heap"
    AddressSpace space = AddressSpace::guest_physical;
    uint32_t slot = 0;  // KVM memslot id (as_id << 16 | id), guest_physical only
    uint64_t base = 0;  // first byte of the range
    uint64_t page_size = 4096;
    uint64_t page_count = 0;

    uint64_t bytes() const { return page_count * page_size; }
    uint64_t end() const { return base + bytes(); }
    bool contains(uint64_t addr) const { return addr >= base && addr < end(); }
    uint64_t page_of(uint64_t addr) const { return (addr - base) / page_size; }
};

}  // namespace dtrack

DTRACK_PUBLIC_END
