// SampleSource: which pages of ANY process changed, with no kernel help.
//
// It reads the target's memory with process_vm_readv, hashes each page
// (XXH3, dtrack/hash.hpp), and compares the hashes with the previous
// harvest's. Like QEMU's page-sampling dirty rate ("calc-dirty-rate" in sampling mode), but it says
// how much to trust the figure.
//
//   auto ids = add_process_regions(tracker, pid);        // writable memory of pid
//   auto src = SampleSource::track(tracker, pid, *ids, {.mode = SampleMode::sample, .max_error = 0.01});
//   SampleSource* sampler = src->get();
//   tracker.add_source(std::move(*src));
//   ... tracker.sync(); sampler->last_estimate();
//
// Only what is there is read. Before each harvest the source asks the kernel
// which pages of the ranges hold memory (PAGEMAP_SCAN on /proc/PID/pagemap,
// or the pagemap entries on kernels before 6.7): present pages are read;
// pages never touched, or mapping the shared zero page, read as zeros and
// are not read at all; swapped-out pages are not read either (that would
// swap them in). Reading never adds memory to the target, which matters for
// a sidecar next to a VM whose guest RAM is mostly untouched huge pages.
//
// Two modes:
// - exact: every present page is hashed at each harvest; a page whose hash
//   changed is dirty. A page that became present since the last harvest is
//   dirty when it holds anything but zeros (a first write), not when it
//   reads as zeros (a read fault, or its neighbours in a new huge page).
//   Exact up to writes that put back the contents the page had at the last
//   harvest (no hashing can see those) and 64-bit hash collisions.
// - sample: a random sample of the present pages, sized for a 95% bound, is
//   hashed at each harvest. Membership is a fixed hash of the page's address,
//   so the same page stays in the sample across harvests while it is
//   present, and the sample is uniform over whatever is present. Only the
//   sampled pages that changed are marked in the bitmap (nothing is known of
//   the others); the figure is an estimate, changed/n x present, with a 95%
//   interval (HarvestReport::estimate, last_estimate()).
//
// What it cannot see: a write that leaves a page as it was at the last
// harvest; writes to a page that is swapped out now (counted in
// SampleReadStats::swapped, not read); a page that went away (unmapped,
// MADV_DONTNEED) is not a write (counted in `dropped`). Memory shared with
// other processes is hashed like any other: their writes show too.
//
// A harvest reports changes since the previous harvest (the first one: since
// track()). A write that is in progress while its page is read shows up at
// that harvest or the next. Pages unmapped under a read are skipped and
// counted. When the process exits, harvest() returns the Error "process N
// exited" (errno_value ESRCH), so a caller can end its run cleanly.
//
// The source's own memory grows with the present pages it hashes (16 bytes
// each), not with the virtual size of the target; past
// SampleOptions::max_state_bytes a harvest fails with an error that says so
// (use sampling, or raise the limit) instead of growing without end.
//
// Cost: every hashed page is copied out of the target (process_vm_readv, up
// to pages_per_read pages a call) and hashed, so a harvest costs in
// proportion to the pages it reads (memory bandwidth and the hash's speed;
// README.md lists what it measured on the project's machines); sampling
// reads about 9600 pages per harvest for a 1% bound whatever the size.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dtrack/source.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/unique_fd.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class DTRACK_INTERNAL RemotePageReader;  // internal to the library
class DTRACK_INTERNAL ResidentPages;     // internal to the library

enum class SampleMode : uint8_t {
    exact,   // hash every page
    sample,  // hash a fixed random sample and estimate
};

struct SampleOptions {
    SampleMode mode = SampleMode::exact;
    // sample mode: how many pages to sample; 0 = enough for max_error.
    uint64_t sample_pages = 0;
    // sample mode with sample_pages 0: the wanted half-width of the 95%
    // interval, as a fraction of the present pages, at worst (half the pages
    // changed). 0.01 samples about 9600 pages of a large process.
    double max_error = 0.01;
    uint64_t seed = 0;                        // sample mode: chooses the sample; 0 = a random seed
    uint32_t pages_per_read = 256;            // pages per process_vm_readv call (256: a 1 MiB buffer)
    uint64_t max_state_bytes = 512ULL << 20;  // the hashes kept between harvests, at most
};

// What the last harvest found, as a count or an estimate of distinct pages
// changed since the harvest before.
struct SampleEstimate {
    double pages = 0;        // point estimate (in exact mode, the count)
    double bound = 0;        // 95% half-width: the truth is in [pages - bound, pages + bound]; 0 in exact mode
    uint64_t sampled = 0;    // pages hashed and compared
    uint64_t changed = 0;    // of those, changed
    uint64_t total = 0;      // the population: pages present now (with memory of their own)
    uint64_t in_sample = 0;  // pages in the sample now: a page of it stands for total / in_sample pages
    // Pages written at least once since track(), estimated from the pages of
    // the current sample that ever changed (exact in exact mode).
    double working_set = 0;
};

// The cost of the last harvest's reading.
struct SampleReadStats {
    uint64_t pages_read = 0;
    uint64_t unreadable = 0;  // unmapped (or unreadable) pages skipped
    uint64_t read_calls = 0;  // process_vm_readv calls
    uint64_t present = 0;     // pages with memory of their own (the population)
    uint64_t zero = 0;        // pages mapping the shared zero page (not read)
    uint64_t swapped = 0;     // pages swapped out (not read: reading would swap them in)
    uint64_t dropped = 0;     // hashed pages that went away since (unmapped, MADV_DONTNEED)
};

class SampleSource : public Source {
public:
    // Tracks `regions` (host_virtual ranges of `pid`, e.g. from
    // add_process_regions) and reads them once for the baseline. Errors: no
    // process, no permission (says which rule), bad options.
    static Result<std::unique_ptr<SampleSource>> track(Tracker& tracker, pid_t pid, std::vector<RegionId> regions,
                                                       SampleOptions options = {});
    ~SampleSource() override;

    std::string name() const override { return options_.mode == SampleMode::exact ? "hash" : "hash-sample"; }
    Result<HarvestReport> harvest(Tracker& tracker) override;

    pid_t pid() const { return pid_; }
    SampleMode mode() const { return options_.mode; }
    uint64_t total_pages() const { return total_pages_; }  // pages of the tracked ranges (virtual)
    uint64_t sample_size() const;  // pages hashed at the last harvest (every present page in exact mode)
    uint64_t seed() const { return options_.seed; }
    // Whether the page at `address` is in the sample as of the last harvest
    // (always, in exact mode). Samples are nested, so a page in the sample
    // now was in it at every earlier harvest with a larger population: a
    // set of pages marked over several harvests, restricted to the current
    // sample, scales by total / in_sample. Call it from the harvesting thread.
    bool in_sample(uint64_t address) const { return sampled(address, threshold_); }
    // Thread-safe snapshots of the last harvest.
    SampleEstimate last_estimate() const;
    SampleReadStats last_read_stats() const;

private:
    // A tracked range, in address order.
    struct Range {
        RegionId region;
        uint64_t base, end;
    };
    // A sampled page's hash at the last harvest (kept while it is swapped out).
    struct Hashed {
        uint64_t address;
        uint64_t hash;
        bool dirtied = false;  // changed at some harvest since it joined the sample
    };
    // One harvest's comparison, before the tracker sees it.
    struct Compared {
        uint64_t sampled = 0, changed = 0;
        uint64_t in_sample = 0, dirtied_in_sample = 0;  // the sample kept, and those of it ever changed
        std::vector<uint64_t> changed_addresses;
    };

    SampleSource(pid_t pid, UniqueFd pidfd, SampleOptions options, std::unique_ptr<ResidentPages> resident);
    bool exited() const;       // the pidfd says the process has exited
    Error gone_error() const;  // its memory cannot be read any more: exited, or replaced by execve
    // Which present pages are in the sample: all in exact mode, else those
    // whose address hashes below the threshold (nested: a lower threshold
    // keeps a subset, so the sample can shrink or grow without losing the
    // baselines it keeps).
    bool sampled(uint64_t address, uint64_t threshold) const;
    uint64_t threshold_for(uint64_t present) const;
    // Scans, reads and hashes the sample, compares with the last harvest
    // (unless `baseline_only`), keeps the new hashes.
    Result<Compared> observe(bool baseline_only, SampleReadStats& stats);
    const Range* range_of(uint64_t address) const;

    pid_t pid_;
    UniqueFd pidfd_;  // tells an exited process apart from a reused PID
    SampleOptions options_;
    uint64_t page_size_;
    uint64_t total_pages_ = 0;
    uint64_t zero_hash_ = 0;     // the hash of a page of zeros: an absent page's contents
    std::vector<Range> ranges_;  // by address
    std::unique_ptr<ResidentPages> resident_;
    std::unique_ptr<RemotePageReader> reader_;
    uint64_t threshold_ = 0;      // the sample's membership threshold (sample mode)
    std::vector<Hashed> hashed_;  // by address: the sample as of the last harvest

    mutable std::mutex last_mutex_;
    SampleEstimate last_;
    SampleReadStats last_read_;
};

// The ranges of `pid` worth hashing, one host_virtual Region each: readable
// and writable mappings that are private (heap, stack, anonymous memory, a
// library's data) or shared anonymous (MAP_SHARED|MAP_ANONYMOUS, memfd,
// SysV shm). Skipped: read-only and file-backed shared mappings, guard pages
// (no access), [vvar]/[vsyscall]/[vdso], devices and anon_inode mappings.
Result<std::vector<Region>> process_regions(pid_t pid);
// process_regions() added to `tracker`; returns their ids.
Result<std::vector<RegionId>> add_process_regions(Tracker& tracker, pid_t pid);

// The estimate of changed pages among `total` when `changed` of `sampled`
// pages (drawn without replacement) changed: changed/sampled x total, with
// the Wilson score 95% interval and a finite-population correction, widened
// to be symmetric and to at least one sampled page's share (total/sampled).
SampleEstimate estimate_changed(uint64_t changed, uint64_t sampled, uint64_t total);
// The sample size whose 95% half-width is at most `max_error` x total at
// worst (p = 1/2), with the finite-population correction; at most `total`.
uint64_t sample_size_for(double max_error, uint64_t total);

}  // namespace dtrack

DTRACK_PUBLIC_END
