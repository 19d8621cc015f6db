// check_guest_memory (guest_memory.hpp): the memory list both the sender
// and the receiver refuse before a byte moves, each entry and field named,
// so the caller can find the one that is wrong.
#include <bit>
#include <map>
#include <string>

#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/precopy/wire_format.hpp"

namespace dtrack::precopy {

namespace {

std::string entry(size_t i, const GuestMemory& m) {
    return "memory[" + std::to_string(i) + "] (region " + std::to_string(m.region) + ")";
}

Error bad(std::string what) {
    return Error{EINVAL, "bad guest memory: " + std::move(what),
                 "list each region once, with its host address, its page count and one page size for all"};
}

}  // namespace

Status check_guest_memory(std::span<const GuestMemory> memory) {
    if (memory.empty()) return bad("no regions");
    if (memory.size() > wire::max_regions)
        return bad(std::to_string(memory.size()) + " regions, more than the wire's " +
                   std::to_string(wire::max_regions));
    const uint64_t page_size = memory.front().page_size;
    if (page_size < wire::min_page_size || page_size > wire::max_page_size || !std::has_single_bit(page_size))
        return bad(entry(0, memory.front()) + ": page_size " + std::to_string(page_size) +
                   " is not a power of two from " + std::to_string(wire::min_page_size) + " to " +
                   std::to_string(wire::max_page_size));
    std::map<RegionId, size_t> listed;  // region -> its first entry
    for (size_t i = 0; i < memory.size(); ++i) {
        const GuestMemory& m = memory[i];
        if (auto [first, fresh] = listed.emplace(m.region, i); !fresh)
            return bad(entry(i, m) + ": region " + std::to_string(m.region) + " is listed twice (also memory[" +
                       std::to_string(first->second) + "])");
        if (m.page_size != page_size)
            return bad(entry(i, m) + ": page_size " + std::to_string(m.page_size) + " differs from memory[0]'s " +
                       std::to_string(page_size));
        if (m.pages >= wire::max_region_pages)
            return bad(entry(i, m) + ": pages " + std::to_string(m.pages) + " is not below the wire's " +
                       std::to_string(wire::max_region_pages));
        if (m.pages && !m.host) return bad(entry(i, m) + ": host is NULL");
    }
    return Ok{};
}

}  // namespace dtrack::precopy
