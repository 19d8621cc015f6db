// UffdSource: exact write tracking of memory this process owns, with
// userfaultfd write-protection in async mode and the PAGEMAP_SCAN ioctl
// (Linux 6.7+). No KVM needed: a VMM can track its guest RAM this way, any
// program its own heap.
//
//   auto id = tracker.add_region({.name = "buffer", .space = AddressSpace::host_virtual,
//                                 .base = address, .page_size = 4096, .page_count = pages});
//   if (!id) fail(id.error().message());
//   auto uffd = UffdSource::track(tracker, *id);
//   if (!uffd) fail(uffd.error().message());
//   tracker.add_source(std::move(*uffd));
//
// track() registers the range with a userfaultfd in write-protect mode with
// UFFD_FEATURE_WP_ASYNC and write-protects it. A write to a protected page
// does not stop the writer: the kernel lifts the protection of that page,
// and that is the record that it was written. With UFFD_FEATURE_WP_UNPOPULATED
// (used when offered) pages never touched are protected too, so reading them
// does not look like a write.
//
// harvest() asks PAGEMAP_SCAN on /proc/self/pagemap for the written pages
// with PM_SCAN_WP_MATCHING, which write-protects every page it reports in the
// same call (invariant 2: harvest and re-protect are one step).
//
// Exact: every page written since the last harvest is reported, and no
// other, to the 4 KiB page: the first write into a protected transparent huge
// page splits it (the kernel does), so tracking costs the writer its huge
// pages. Writes by the kernel (read(2) into the buffer) are tracked too. The
// writer pays one write-protect fault for its first write to a page after
// each harvest; what that costs depends on the kernel and on whether it runs
// nested (README.md lists measurements). Only for memory of this process: for
// another process, use SampleSource.
//
// Hot-page deferral (Tracker::take_keeping) spares no faults here either:
// PAGEMAP_SCAN's PM_SCAN_WP_MATCHING re-protects every page it reports, at
// the harvest, so a page kept dirty for a later round faults again at its
// next write (one fault per harvest it is rewritten in, as without deferral).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/unique_fd.hpp"
#include "dtrack/export.hpp"

struct page_region;  // PAGEMAP_SCAN's output record (lib/common/linux_compat.h, internal)

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class UffdSource : public Source {
public:
    // `region` must be host_virtual, page-aligned, with the system page size,
    // and mapped in this process: anonymous, shmem (memfd) or even file-backed
    // memory (async mode allows any kind but device memory; a hugetlbfs huge
    // page can only be protected, and so reported, whole). Any user may call
    // it (UFFD_USER_MODE_ONLY suffices). The first harvest reports the pages
    // written after track() returned, and possibly some written while it ran.
    static Result<std::unique_ptr<UffdSource>> track(Tracker& tracker, RegionId region);
    ~UffdSource() override;

    std::string name() const override { return "uffd"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;

    RegionId region() const { return region_; }
    // UFFD_FEATURE_WP_UNPOPULATED is in use: untouched pages are protected too.
    bool protects_unpopulated() const { return protects_unpopulated_; }
    // How the userfaultfd was opened: "userfaultfd()", "userfaultfd(UFFD_USER_MODE_ONLY)", "/dev/userfaultfd".
    const std::string& opened_with() const { return opened_with_; }
    // PAGEMAP_SCAN calls so far (more than one per harvest when the output vector filled up).
    uint64_t scan_calls() const { return scan_calls_; }

private:
    UffdSource(RegionId id, const Region& region, UniqueFd uffd, UniqueFd pagemap, bool protects_unpopulated,
               std::string opened_with);

    // Finds the pages written since the last scan, re-protects them, marks
    // them in `bitmap`, and adds them to pending_.
    Status scan_written(DirtyBitmap& bitmap);

    RegionId region_;
    Region range_;
    UniqueFd uffd_;
    UniqueFd pagemap_;  // /proc/self/pagemap, where PAGEMAP_SCAN is issued
    bool protects_unpopulated_;
    std::string opened_with_;
    std::unique_ptr<page_region[]> runs_;  // PAGEMAP_SCAN output: runs of written pages
    uint64_t scan_calls_ = 0;
    HarvestReport pending_;  // scanned but not yet reported (track()'s first scan)
};

}  // namespace dtrack

DTRACK_PUBLIC_END
