// Soft-dirty bits: clear_refs "4" clears them for a whole process, a write
// sets pagemap bit 55 again. Probed in a forked child: clearing them in the
// caller would wipe the state of a VMM that tracks itself this way.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "common/linux_compat.h"
#include "probe/anon_mapping.hpp"
#include "probe/probes.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText text{
    feature_id::soft_dirty,
    "Soft-dirty page bits",
    "write tracking of any process by PID, without its help",
    "build the kernel with CONFIG_MEM_SOFT_DIRTY=y; until then dtrack uses "
    "userfaultfd + PAGEMAP_SCAN, the KVM interfaces, or page hashing",
    "soft-dirty.md",
};

Result<std::uint64_t> pagemap_entry(const void* address) {
    UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    if (!pagemap.valid()) return Error{errno, errno_error("open /proc/self/pagemap", errno).what, {}};
    std::uint64_t entry = 0;
    off_t offset =
        static_cast<off_t>(reinterpret_cast<std::uintptr_t>(address) / AnonMapping::page_size() * sizeof entry);
    if (::pread(pagemap.get(), &entry, sizeof entry, offset) != sizeof entry)
        return Error{errno, errno_error("read /proc/self/pagemap", errno).what, {}};
    return entry;
}

Outcome clear_then_write() {
    AnonMapping memory(1);
    if (!memory.valid()) return {false, errno_error("mmap", errno).what};
    volatile char* page = memory.base();
    *page = 1;  // present before the clear

    UniqueFd clear_refs(::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC));
    if (!clear_refs.valid()) return {false, errno_error("open /proc/self/clear_refs", errno).what};
    if (::write(clear_refs.get(), "4", 1) != 1)
        return {false, errno_error("write 4 to /proc/self/clear_refs", errno).what};

    auto before = pagemap_entry(memory.base());
    if (!before) return {false, before.error().what};
    if (*before & DTRACK_PM_SOFT_DIRTY) return {false, "clear_refs=4 left pagemap bit 55 set"};

    *page = 2;
    auto after = pagemap_entry(memory.base());
    if (!after) return {false, after.error().what};
    if (!(*after & DTRACK_PM_PRESENT)) return {false, "the written page is not present in pagemap"};
    if (!(*after & DTRACK_PM_SOFT_DIRTY))
        return {false,
                "pagemap bit 55 stayed 0 after clear_refs=4 and a write: the kernel is "
                "built without CONFIG_MEM_SOFT_DIRTY"};
    return {true, "clear_refs=4 cleared bit 55, a write set it again"};
}

}  // namespace

Feature probe_soft_dirty() {
    Outcome outcome = run_in_child(clear_then_write);
    return outcome.ok ? available(text, outcome.text) : unavailable(text, outcome.text);
}

}  // namespace dtrack::probe
