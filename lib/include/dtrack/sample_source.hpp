// SampleSource: which pages of ANY process changed, with no kernel help.
//
// It reads the target's memory with process_vm_readv, hashes each page
// (XXH64), and compares the hashes with the previous harvest's. Like QEMU's
// page-sampling dirty rate ("calc-dirty-rate" in sampling mode), but it says
// how much to trust the figure.
//
//   auto ids = add_process_regions(tracker, pid);        // writable memory of pid
//   auto src = SampleSource::track(tracker, pid, *ids, {.mode = SampleMode::sample, .max_error = 0.01});
//   SampleSource* sampler = src->get();
//   tracker.add_source(std::move(*src));
//   ... tracker.sync(); sampler->last_estimate();
//
// Two modes:
// - exact: every page of the ranges is hashed at each harvest; a page whose
//   hash changed is dirty. Exact up to writes that put back the contents the
//   page had at the last harvest (no hashing can see those) and 64-bit hash
//   collisions. Costs a read of all the memory per harvest.
// - sample: a fixed random sample of n pages, chosen once, uniformly over all
//   pages of the ranges, is hashed at each harvest. Only the sampled pages
//   that changed are marked in the bitmap (nothing is known of the others);
//   the figure is an estimate, changed/n x total, with a 95% interval
//   (HarvestReport::estimate, last_estimate()).
//
// A harvest reports changes since the previous harvest (the first one: since
// track()). A write that is in progress while its page is read shows up at
// that harvest or the next. Pages that are unmapped while tracked are skipped
// and counted, not an error; a page whose earlier contents were never read is
// reported dirty when it is first read (over-approximated, never lost).
// When the process exits, harvest() returns the Error "process N exited"
// (errno_value ESRCH), so a caller can end its run cleanly.
//
// Cost: every hashed page is copied out of the target (process_vm_readv, up
// to pages_per_read pages a call) and hashed: about 0.7 us a page on the
// development machine, so an exact harvest of a 16 GiB process takes about
// 3 s, while a 0.01 sample (~9600 pages) takes about 6 ms whatever the size.
// Reading a page the target never touched maps the shared zero page there
// (page tables, no memory); a swapped-out page is swapped in.
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

namespace dtrack {

class RemotePageReader;

enum class SampleMode : uint8_t {
    exact,   // hash every page
    sample,  // hash a fixed random sample and estimate
};

struct SampleOptions {
    SampleMode mode = SampleMode::exact;
    // sample mode: how many pages to sample; 0 = enough for max_error.
    uint64_t sample_pages = 0;
    // sample mode with sample_pages 0: the wanted half-width of the 95%
    // interval, as a fraction of all tracked pages, at worst (half the pages
    // changed). 0.01 samples about 9600 pages of a large process.
    double max_error = 0.01;
    uint64_t seed = 0;              // sample mode: chooses the sample; 0 = a random seed
    uint32_t pages_per_read = 256;  // pages per process_vm_readv call (256: a 1 MiB buffer, the fastest measured)
};

// What the last harvest found, as a count or an estimate of distinct pages
// changed since the harvest before.
struct SampleEstimate {
    double pages = 0;      // point estimate (in exact mode, the count)
    double bound = 0;      // 95% half-width: the truth is in [pages - bound, pages + bound]; 0 in exact mode
    uint64_t sampled = 0;  // pages hashed and compared
    uint64_t changed = 0;  // of those, changed
    uint64_t total = 0;    // pages of all tracked ranges
};

// The cost of the last harvest's reading.
struct SampleReadStats {
    uint64_t pages_read = 0;
    uint64_t unreadable = 0;  // unmapped (or unreadable) pages skipped
    uint64_t read_calls = 0;  // process_vm_readv calls
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
    uint64_t total_pages() const { return total_pages_; }
    uint64_t sample_size() const { return slots_; }  // pages hashed per harvest (all of them in exact mode)
    uint64_t seed() const { return options_.seed; }
    // Thread-safe snapshots of the last harvest.
    SampleEstimate last_estimate() const;
    SampleReadStats last_read_stats() const;

private:
    // A run of consecutive tracked pages: pages [first_page, +pages) of
    // `region`, at `address` in the target, whose hashes sit at slots
    // [first_slot, +pages).
    struct Run {
        RegionId region;
        uint64_t first_page;
        uint64_t pages;
        uint64_t address;
        uint64_t first_slot;
    };

    SampleSource(pid_t pid, UniqueFd pidfd, SampleOptions options);
    void plan_exact(const Tracker& tracker, const std::vector<RegionId>& regions);
    void plan_sample(const Tracker& tracker, const std::vector<RegionId>& regions, uint64_t n);
    bool exited() const;  // the pidfd says the process has exited
    // Reads every planned page: on_page(run, page within the run, its bytes).
    // Unreadable pages are skipped and counted.
    Result<SampleReadStats> read_pages(const std::function<void(const Run&, uint64_t, const uint8_t*)>& on_page);

    pid_t pid_;
    UniqueFd pidfd_;  // tells an exited process apart from a reused PID
    SampleOptions options_;
    uint64_t total_pages_ = 0;
    uint64_t slots_ = 0;                   // pages hashed per harvest
    std::vector<Run> runs_;         // what to read, in address order
    std::vector<uint64_t> hashes_;  // per slot: the hash at the last read
    std::vector<bool> known_;       // per slot: hashes_ holds a real hash
    std::unique_ptr<RemotePageReader> reader_;

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
