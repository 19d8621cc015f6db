// Write tracking of ordinary process memory: userfaultfd write-protect in
// async mode (writes are recorded by the kernel, nobody is woken) and the
// PAGEMAP_SCAN ioctl that finds and re-protects the written pages.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/linux_compat.h"
#include "probe/anon_mapping.hpp"
#include "probe/probes.hpp"
#include "dtrack/unique_fd.hpp"
#include "sources/userfaultfd_open.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText uffd_text{
    feature_id::userfaultfd_wp_async,
    "userfaultfd write-protect, async",
    "UffdSource: exact write tracking of memory a process registers (no KVM)",
    "use Linux 6.7+ with CONFIG_USERFAULTFD and CONFIG_PTE_MARKER_UFFD_WP; "
    "without it dtrack samples page hashes",
    "userfaultfd-wp-async.md",
};
constexpr FeatureText scan_text{
    feature_id::pagemap_scan,
    "PAGEMAP_SCAN ioctl",
    "UffdSource harvest: find and re-protect written pages in one call",
    "use Linux 6.7+ (CONFIG_PROC_PAGE_MONITOR); without it dtrack samples page hashes",
    "pagemap-scan.md",
};

constexpr std::size_t test_pages = 4;
constexpr std::size_t written_page = 2;  // the one page the probe writes

// The memory of the probe, write-protected through an async userfaultfd.
struct ProtectedRange {
    AnonMapping memory{test_pages};
    UniqueFd uffd;
    std::string detail;
};

Outcome write_protect(ProtectedRange& range) {
    auto features = userfaultfd_features();
    if (!features) return {false, features.error().what};
    if (!(*features & UFFD_FEATURE_WP_ASYNC))
        return {false, "UFFDIO_API does not offer UFFD_FEATURE_WP_ASYNC (Linux 6.7+)"};

    std::string how;
    auto fd = open_userfaultfd(how);
    if (!fd) return {false, fd.error().what};
    range.uffd = std::move(*fd);
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC;
    // Without WP_UNPOPULATED only present pages can be protected; the probe
    // touches every page anyway, but dtrack uses it when offered.
    if (*features & UFFD_FEATURE_WP_UNPOPULATED) api.features |= UFFD_FEATURE_WP_UNPOPULATED;
    if (::ioctl(range.uffd.get(), UFFDIO_API, &api) != 0)
        return {false, errno_error("UFFDIO_API(UFFD_FEATURE_WP_ASYNC)", errno).what};

    if (!range.memory.valid()) return {false, errno_error("mmap", errno).what};
    std::memset(range.memory.base(), 1, range.memory.size());

    uffdio_register reg{};
    reg.range.start = range.memory.address();
    reg.range.len = range.memory.size();
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(range.uffd.get(), UFFDIO_REGISTER, &reg) != 0)
        return {false, errno_error("UFFDIO_REGISTER(MODE_WP)", errno).what};
    uffdio_writeprotect wp{};
    wp.range = reg.range;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (::ioctl(range.uffd.get(), UFFDIO_WRITEPROTECT, &wp) != 0)
        return {false, errno_error("UFFDIO_WRITEPROTECT", errno).what};

    // With WP_ASYNC this write just marks the page written; nothing blocks.
    *reinterpret_cast<volatile char*>(range.memory.page(written_page)) = 2;

    range.detail =
        "opened with " + how + "; write-protected " + std::to_string(test_pages) + " pages, a write went through";
    if (api.features & UFFD_FEATURE_WP_UNPOPULATED) range.detail += "; WP_UNPOPULATED too";
    return {true, ""};
}

// One PAGEMAP_SCAN over the range: the written pages, re-protected.
Result<int> scan_written(int pagemap, const AnonMapping& memory, page_region* regions, std::size_t max_regions) {
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    arg.start = memory.address();
    arg.end = memory.address() + memory.size();
    arg.vec = reinterpret_cast<std::uint64_t>(regions);
    arg.vec_len = max_regions;
    arg.category_mask = PAGE_IS_WRITTEN;
    arg.return_mask = PAGE_IS_WRITTEN;
    int n = ::ioctl(pagemap, PAGEMAP_SCAN, &arg);
    if (n < 0) return Error{errno, errno_error("ioctl(PAGEMAP_SCAN)", errno).what, {}};
    return n;
}

std::string missing_scan_reason(const Error& error) {
    if (error.errno_value == ENOTTY || error.errno_value == EINVAL)
        return error.what + ": the kernel has no PAGEMAP_SCAN (Linux 6.7+)";
    return error.what;
}

// Without async userfaultfd, still tell whether the ioctl exists: ask for
// the present pages of a touched mapping.
Feature probe_scan_alone(int pagemap, const std::string& why_no_uffd) {
    AnonMapping memory(1);
    if (!memory.valid()) return unavailable(scan_text, errno_error("mmap", errno).what);
    *memory.base() = 1;
    page_region region{};
    pm_scan_arg arg{};
    arg.size = sizeof arg;
    arg.start = memory.address();
    arg.end = memory.address() + memory.size();
    arg.vec = reinterpret_cast<std::uint64_t>(&region);
    arg.vec_len = 1;
    arg.category_mask = PAGE_IS_PRESENT;
    arg.return_mask = PAGE_IS_PRESENT;
    if (::ioctl(pagemap, PAGEMAP_SCAN, &arg) < 0)
        return unavailable(scan_text,
                           missing_scan_reason(Error{errno, errno_error("ioctl(PAGEMAP_SCAN)", errno).what, {}}));
    return available(scan_text, "the ioctl works, but finding written pages needs async userfaultfd: " + why_no_uffd);
}

}  // namespace

std::vector<Feature> probe_process_tracking() {
    UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    int pagemap_err = errno;
    ProtectedRange range;
    Outcome protect = write_protect(range);

    Feature uffd = protect.ok ? available(uffd_text, range.detail) : unavailable(uffd_text, protect.text);
    if (!pagemap.valid())
        return {uffd, unavailable(scan_text, errno_error("open /proc/self/pagemap", pagemap_err).what)};
    if (!protect.ok) return {uffd, probe_scan_alone(pagemap.get(), protect.text)};

    // First scan: exactly the written page. Second: nothing, since the first
    // one re-protected it.
    page_region regions[test_pages];
    auto first = scan_written(pagemap.get(), range.memory, regions, test_pages);
    if (!first) return {uffd, unavailable(scan_text, missing_scan_reason(first.error()))};
    const std::uint64_t page = AnonMapping::page_size();
    const std::uint64_t written = range.memory.address() + written_page * page;
    if (*first != 1 || regions[0].start != written || regions[0].end != written + page)
        return {uffd, unavailable(scan_text, "PAGEMAP_SCAN reported " + std::to_string(*first) +
                                                 " regions, not the one page written")};
    auto second = scan_written(pagemap.get(), range.memory, regions, test_pages);
    if (!second) return {uffd, unavailable(scan_text, second.error().what)};
    if (*second != 0) return {uffd, unavailable(scan_text, "PAGEMAP_SCAN with PM_SCAN_WP_MATCHING did not re-protect")};

    return {uffd, available(scan_text, "found exactly the 1 page written of " + std::to_string(test_pages) +
                                           " and re-protected it")};
}

}  // namespace dtrack::probe
