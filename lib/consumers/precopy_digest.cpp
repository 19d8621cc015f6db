// The END record's memory digest: XXH64 with seed 0 over all regions' bytes
// in order, as one buffer (dtrack/hash.hpp). It is computed while the vCPUs
// are paused, on both sides, so it must run at memory speed. It is a check
// against bugs and corruption, not an attacker.
#include "dtrack/hash.hpp"
#include "dtrack/precopy/guest_memory.hpp"

namespace dtrack::precopy {

uint64_t memory_digest(std::span<const GuestMemory> memory) {
    Xxh64 h;
    for (const GuestMemory& m : memory) h.update(m.host, m.bytes());
    return h.digest();
}

}  // namespace dtrack::precopy
