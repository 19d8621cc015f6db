#include "dtrack/uffd_source.hpp"

#include "common/installed_docs.hpp"
#include "sources/userfaultfd_open.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "common/linux_compat.h"
#include "dtrack/process_memory.hpp"

namespace dtrack {

namespace {

const std::string wp_async_note = "see " + installed_doc("kconfig-notes/userfaultfd-wp-async.md");
const std::string pagemap_scan_note = "see " + installed_doc("kconfig-notes/pagemap-scan.md");
// What to use where this source cannot work.
constexpr const char* instead = "or track with SampleSource (page hashing: works on any kernel, any process)";

// PAGEMAP_SCAN output records per call. Adjacent written pages share one
// record, so this only fills up when the writes are scattered; then the
// harvest calls again from where the walk stopped.
constexpr size_t runs_per_scan = 1024;

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string describe(const Region& r) { return "region '" + r.name + "' [" + hex(r.base) + ", " + hex(r.end()) + ")"; }

Error no_pagemap_scan(int err) {
    return Error{err,
                 errno_error("ioctl(PAGEMAP_SCAN)", err).what +
                     ": this kernel has no PAGEMAP_SCAN ioctl (Linux 6.7+, CONFIG_PROC_PAGE_MONITOR)",
                 std::string("use Linux 6.7 or later, ") + pagemap_scan_note + "; " + instead};
}

}  // namespace

Result<std::unique_ptr<UffdSource>> UffdSource::track(Tracker& tracker, RegionId id) {
    if (id >= tracker.region_count())
        return Error{EINVAL, "no region " + std::to_string(id) + " in the tracker", "add the region first"};
    const Region& r = tracker.region(id);
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    if (r.space != AddressSpace::host_virtual)
        return Error{EINVAL, describe(r) + " is guest-physical",
                     "UffdSource tracks host virtual memory; "
                     "for a KVM guest use KvmRingSource or KvmLogSource"};
    if (r.page_size != page || r.base % page != 0 || r.page_count == 0)
        return Error{EINVAL, describe(r) + " is not whole pages of " + std::to_string(page) + " bytes",
                     "give a page-aligned base, page_size " + std::to_string(page) + " and page_count > 0"};

    // A clear error for a range that is not (wholly) mapped, before the
    // kernel's bare EINVAL.
    auto maps = read_process_maps(::getpid());
    if (!maps) return maps.error();
    if (uint64_t hole = first_unmapped(*maps, r.base, r.end()); hole < r.end())
        return Error{EFAULT, describe(r) + " is not mapped at " + hex(hole),
                     "map the memory before tracking it, or fix the region's base and page count"};

    // Where the harvest will ask; opened first, so a refusal changes nothing.
    UniqueFd pagemap(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
    if (!pagemap.valid()) {
        const int err = errno;
        // /proc/self/pagemap is mode 0400; a process that is not dumpable
        // (it changed its uid, or is setuid) sees its /proc files owned by root.
        if (err == EACCES && ::prctl(PR_GET_DUMPABLE) == 0)
            return Error{err,
                         "cannot open /proc/self/pagemap: this process is not dumpable (it changed its uid or "
                         "runs setuid), so its /proc files belong to root",
                         "call prctl(PR_SET_DUMPABLE, 1) after changing uid, or run as root"};
        return errno_error("open /proc/self/pagemap", err, "mount /proc; " + pagemap_scan_note);
    }

    auto offered = userfaultfd_features();
    if (!offered) return offered.error();
    if (!(*offered & UFFD_FEATURE_WP_ASYNC))
        return Error{ENOTSUP,
                     "this kernel's userfaultfd does not offer UFFD_FEATURE_WP_ASYNC (needs Linux 6.7+ with "
                     "CONFIG_PTE_MARKER_UFFD_WP)",
                     std::string("use such a kernel, ") + wp_async_note + "; " + instead};

    std::string how;
    auto uffd = open_userfaultfd(how);
    if (!uffd) return uffd.error();
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = UFFD_FEATURE_WP_ASYNC;
    if (*offered & UFFD_FEATURE_WP_UNPOPULATED) api.features |= UFFD_FEATURE_WP_UNPOPULATED;
    if (::ioctl(uffd->get(), UFFDIO_API, &api) != 0)
        return errno_error("UFFDIO_API(UFFD_FEATURE_WP_ASYNC)", errno, wp_async_note);

    uffdio_register reg{};
    reg.range.start = r.base;
    reg.range.len = r.bytes();
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(uffd->get(), UFFDIO_REGISTER, &reg) != 0) {
        const int err = errno;
        if (err == EBUSY)
            return Error{err, "UFFDIO_REGISTER: " + describe(r) + " is already registered with another userfaultfd",
                         "track each range with one UffdSource"};
        if (err == EINVAL)
            return Error{err,
                         "UFFDIO_REGISTER(MODE_WP) refused " + describe(r) +
                             ": the kernel cannot write-protect this kind of memory (device or I/O memory, "
                             "MAP_DROPPABLE)",
                         std::string("track ordinary memory (anonymous, shmem, file-backed), ") + instead};
        return errno_error("UFFDIO_REGISTER(MODE_WP) of " + describe(r), err, wp_async_note);
    }

    // Write-protect the whole range now: from here on a write is recorded.
    uffdio_writeprotect wp{};
    wp.range = reg.range;
    wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
    if (::ioctl(uffd->get(), UFFDIO_WRITEPROTECT, &wp) != 0)
        return errno_error("UFFDIO_WRITEPROTECT of " + describe(r), errno, wp_async_note);

    std::unique_ptr<UffdSource> source(
        new UffdSource(id, r, std::move(*uffd), std::move(pagemap), api.features & UFFD_FEATURE_WP_UNPOPULATED, how));
    // A first scan: finds out whether the kernel has PAGEMAP_SCAN, and keeps
    // what was written since the protection for the first harvest.
    if (Status s = source->scan_written(tracker.bitmap(id)); !s) return s.error();
    return source;
}

UffdSource::UffdSource(RegionId id, const Region& region, UniqueFd uffd, UniqueFd pagemap, bool protects_unpopulated,
                       std::string opened_with)
    : region_(id),
      range_(region),
      uffd_(std::move(uffd)),
      pagemap_(std::move(pagemap)),
      protects_unpopulated_(protects_unpopulated),
      opened_with_(std::move(opened_with)),
      runs_(new page_region[runs_per_scan]) {}

// Closing the userfaultfd unregisters the range; the memory stays as it is.
UffdSource::~UffdSource() = default;

Status UffdSource::scan_written(DirtyBitmap& bitmap) {
    const uint64_t end = range_.end();
    uint64_t at = range_.base;
    uint64_t pages = 0;
    while (at < end) {
        pm_scan_arg arg{};
        arg.size = sizeof arg;
        // WP_MATCHING: write-protect what is reported, in the same walk.
        // CHECK_WPASYNC: fail rather than skip memory that is not registered.
        arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        arg.start = at;
        arg.end = end;
        arg.vec = reinterpret_cast<uint64_t>(runs_.get());
        arg.vec_len = runs_per_scan;
        arg.category_mask = PAGE_IS_WRITTEN;
        arg.return_mask = PAGE_IS_WRITTEN;
        int n;
        do n = ::ioctl(pagemap_.get(), PAGEMAP_SCAN, &arg);
        while (n < 0 && errno == EINTR);
        ++scan_calls_;
        if (n < 0) {
            const int err = errno;
            if (err == ENOTTY || (err == EINVAL && scan_calls_ == 1)) return no_pagemap_scan(err);
            if (err == EPERM)
                return Error{err,
                             "PAGEMAP_SCAN refused " + describe(range_) +
                                 ": part of it is no longer registered for write tracking (unmapped and mapped "
                                 "again?)",
                             "track the new mapping with a new UffdSource"};
            return errno_error("ioctl(PAGEMAP_SCAN) on " + describe(range_), err, pagemap_scan_note);
        }
        for (int i = 0; i < n; ++i) {
            const uint64_t first = (runs_[i].start - range_.base) / range_.page_size;
            const uint64_t count = (runs_[i].end - runs_[i].start) / range_.page_size;
            pages += count;
            pending_.new_dirty += bitmap.mark_range(first, count);
        }
        // The walk stops early when the output vector is full: go on from there.
        if (arg.walk_end <= at)
            return Error{EIO, "PAGEMAP_SCAN made no progress at " + hex(at) + " in " + describe(range_),
                         "report this as a dtrack bug, with the kernel version"};
        at = arg.walk_end;
    }
    pending_.pages += pages;
    if (pages) pending_.add_region(region_, pages);
    return Ok{};
}

Result<HarvestReport> UffdSource::harvest(Tracker& tracker) {
    const auto start = std::chrono::steady_clock::now();
    if (Status s = scan_written(tracker.bitmap(region_)); !s) return s.error();
    HarvestReport report = std::exchange(pending_, HarvestReport{});
    report.cost += std::chrono::steady_clock::now() - start;
    return report;
}

}  // namespace dtrack
