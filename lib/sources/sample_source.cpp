#include "dtrack/sample_source.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <random>
#include <unordered_set>

#include "dtrack/hash.hpp"
#include "dtrack/process_memory.hpp"
#include "sources/remote_page_reader.hpp"

namespace dtrack {

namespace {

constexpr double z95 = 1.959964;  // the standard normal's 97.5% quantile: a two-sided 95% interval

uint64_t system_page_size() { return uint64_t(::sysconf(_SC_PAGESIZE)); }

bool is_special(const std::string& path) {
    return path == "[vvar]" || path == "[vvar_vclock]" || path == "[vsyscall]" || path == "[vdso]";
}

// Shared memory that belongs to no regular file: MAP_SHARED|MAP_ANONYMOUS
// shows as "/dev/zero (deleted)", memfd_create as "/memfd:name (deleted)".
bool is_shared_anonymous(const std::string& path) {
    return path.empty() || path.rfind("/dev/zero", 0) == 0 || path.rfind("/memfd:", 0) == 0 ||
           path.rfind("/SYSV", 0) == 0 || path.rfind("[anon_shmem", 0) == 0;
}

bool worth_hashing(const Mapping& m) {
    if (!m.readable || !m.writable) return false;  // read-only, or a guard page
    if (is_special(m.path)) return false;
    // Device memory (and a vCPU's kvm_run) cannot be read with process_vm_readv.
    if (m.path.rfind("anon_inode:", 0) == 0) return false;
    if (m.path.rfind("/dev/", 0) == 0 && m.path.rfind("/dev/zero", 0) != 0) return false;
    return !m.shared || is_shared_anonymous(m.path);
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

// --- the estimate ---------------------------------------------------------------------

SampleEstimate estimate_changed(uint64_t changed, uint64_t sampled, uint64_t total) {
    SampleEstimate e{.sampled = sampled, .changed = changed, .total = total};
    if (sampled >= total) {  // everything was looked at: a count
        e.pages = double(changed);
        return e;
    }
    if (sampled == 0) {  // nothing was looked at: anything from 0 to total
        e.pages = e.bound = double(total) / 2;
        return e;
    }
    const double N = double(total), n = double(sampled), p = double(changed) / n;
    // Drawing without replacement from a finite population narrows the
    // interval: as if the sample were larger by 1 / ((N - n) / (N - 1)).
    const double n_eff = n * (N - 1) / (N - n);
    // Wilson's score interval: honest near 0 and 1, where the normal
    // approximation would claim a zero-width interval.
    const double z2 = z95 * z95;
    const double denom = 1 + z2 / n_eff;
    const double center = (p + z2 / (2 * n_eff)) / denom;
    const double half = z95 / denom * std::sqrt(p * (1 - p) / n_eff + z2 / (4 * n_eff * n_eff));
    const double low = std::max(0.0, center - half), high = std::min(1.0, center + half);
    e.pages = p * N;
    // Symmetric around the point estimate (the report carries one bound), and
    // no finer than what one sampled page stands for.
    e.bound = std::max({(p - low) * N, (high - p) * N, N / n});
    return e;
}

uint64_t sample_size_for(double max_error, uint64_t total) {
    if (total == 0) return 0;
    if (!(max_error > 0)) return total;
    const double n0 = z95 * z95 * 0.25 / (max_error * max_error);  // infinite population, p = 1/2
    const double n = n0 / (1 + (n0 - 1) / double(total));        // finite-population correction
    return std::clamp<uint64_t>(uint64_t(std::ceil(n)), 1, total);
}

// --- regions of a process ---------------------------------------------------------

Result<std::vector<Region>> process_regions(pid_t pid) {
    auto maps = read_process_maps(pid);
    if (!maps) return maps.error();
    const uint64_t page = system_page_size();
    std::vector<Region> regions;
    for (const Mapping& m : *maps) {
        if (!worth_hashing(m)) continue;
        regions.push_back(Region{.name = m.path.empty() ? "[anon]" : m.path,
                                 .space = AddressSpace::host_virtual,
                                 .base = m.start,
                                 .page_size = page,
                                 .page_count = m.bytes() / page});
    }
    return regions;
}

Result<std::vector<RegionId>> add_process_regions(Tracker& tracker, pid_t pid) {
    auto regions = process_regions(pid);
    if (!regions) return regions.error();
    std::vector<RegionId> ids;
    for (Region& r : *regions) ids.push_back(tracker.add_region(std::move(r)));
    return ids;
}

// --- the source -------------------------------------------------------------------

Result<std::unique_ptr<SampleSource>> SampleSource::track(Tracker& tracker, pid_t pid, std::vector<RegionId> regions,
                                                          SampleOptions options) {
    if (pid <= 0) return Error{EINVAL, "pid " + std::to_string(pid) + " is not a process id", "give a PID > 0"};
    const uint64_t page = system_page_size();
    uint64_t total = 0;
    for (RegionId id : regions) {
        if (id >= tracker.region_count())
            return Error{EINVAL, "no region " + std::to_string(id) + " in the tracker", "add the region first"};
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::host_virtual || r.page_size != page || r.base % page)
            return Error{EINVAL, "region '" + r.name + "' is not host virtual memory in whole pages",
                         "give host_virtual regions with page_size " + std::to_string(page) + " (process_regions)"};
        total += r.page_count;
    }
    if (total == 0) return Error{EINVAL, "no pages to track", "give at least one non-empty region"};
    if (options.mode == SampleMode::sample && options.sample_pages == 0 &&
        !(options.max_error > 0 && options.max_error < 1))
        return Error{EINVAL, "max_error " + std::to_string(options.max_error) + " is not between 0 and 1",
                     "give e.g. 0.01 (the 95% bound is then at most 1% of the pages), or a sample size"};

    // The pidfd pins down this process: a later process that reuses the PID
    // is not mistaken for it.
    UniqueFd pidfd(pidfd_open(pid));
    if (!pidfd.valid()) {
        // ESRCH: no such process. Otherwise (a kernel before 5.3, a thread's
        // id) go on without a pidfd if the process exists.
        if (errno == ESRCH || (::kill(pid, 0) != 0 && errno == ESRCH)) return no_process_error(pid);
    }

    if (options.seed == 0) options.seed = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
    std::unique_ptr<SampleSource> source(new SampleSource(pid, std::move(pidfd), options));
    source->total_pages_ = total;
    if (options.mode == SampleMode::exact) {
        source->plan_exact(tracker, regions);
    } else {
        const uint64_t n = options.sample_pages ? std::min(options.sample_pages, total)
                                                : sample_size_for(options.max_error, total);
        source->plan_sample(tracker, regions, n);
    }
    source->reader_ = std::make_unique<RemotePageReader>(pid, page, options.pages_per_read);

    // The baseline: what each page holds now.
    SampleSource& s = *source;
    auto read = s.read_pages([&](const Run& run, uint64_t p, const uint8_t* bytes) {
        s.hashes_[run.first_slot + p] = xxh64(bytes, page);
        s.known_[run.first_slot + p] = true;
    });
    if (!read) return read.error();  // exited meanwhile, or no permission
    return source;
}

SampleSource::SampleSource(pid_t pid, UniqueFd pidfd, SampleOptions options)
    : pid_(pid), pidfd_(std::move(pidfd)), options_(options) {}

SampleSource::~SampleSource() = default;

void SampleSource::plan_exact(const Tracker& tracker, const std::vector<RegionId>& regions) {
    for (RegionId id : regions) {
        const Region& r = tracker.region(id);
        if (r.page_count) runs_.push_back({id, 0, r.page_count, r.base, slots_});
        slots_ += r.page_count;
    }
    hashes_.assign(slots_, 0);
    known_.assign(slots_, false);
}

void SampleSource::plan_sample(const Tracker& tracker, const std::vector<RegionId>& regions, uint64_t n) {
    // n distinct page numbers out of all pages, uniformly (Floyd's algorithm:
    // one random draw per chosen page, whatever n is).
    std::mt19937_64 rng(options_.seed);
    std::unordered_set<uint64_t> chosen;
    chosen.reserve(n);
    for (uint64_t j = total_pages_ - n; j < total_pages_; ++j) {
        const uint64_t t = std::uniform_int_distribution<uint64_t>(0, j)(rng);
        if (!chosen.insert(t).second) chosen.insert(j);
    }
    std::vector<uint64_t> sample(chosen.begin(), chosen.end());
    std::sort(sample.begin(), sample.end());

    // Page number -> (region, page); neighbours in one region share a run.
    size_t k = 0;
    uint64_t region_first = 0;  // page number of region k's first page
    for (uint64_t number : sample) {
        while (number >= region_first + tracker.region(regions[k]).page_count)
            region_first += tracker.region(regions[k++]).page_count;
        const Region& r = tracker.region(regions[k]);
        const uint64_t page = number - region_first;
        Run* last = runs_.empty() ? nullptr : &runs_.back();
        if (last && last->region == regions[k] && last->first_page + last->pages == page) {
            ++last->pages;
        } else {
            runs_.push_back({regions[k], page, 1, r.base + page * r.page_size, slots_});
        }
        ++slots_;
    }
    hashes_.assign(slots_, 0);
    known_.assign(slots_, false);
}

bool SampleSource::exited() const {
    if (!pidfd_.valid()) return ::kill(pid_, 0) != 0 && errno == ESRCH;
    pollfd p{pidfd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

Result<SampleReadStats> SampleSource::read_pages(
    const std::function<void(const Run&, uint64_t, const uint8_t*)>& on_page) {
    std::vector<RemotePageReader::Run> reads;
    reads.reserve(runs_.size());
    for (const Run& r : runs_) reads.push_back({r.address, r.pages});
    auto stats = reader_->read(
        reads, [&](size_t run, uint64_t page, const uint8_t* bytes) { on_page(runs_[run], page, bytes); },
        [](size_t, uint64_t) {});  // a skipped page keeps its old hash: compared when readable again
    if (!stats) return stats.error();
    return SampleReadStats{stats->pages_read, stats->unreadable, stats->calls};
}

Result<HarvestReport> SampleSource::harvest(Tracker& tracker) {
    const auto start = std::chrono::steady_clock::now();
    if (exited()) return process_exited_error(pid_);

    HarvestReport report;
    uint64_t sampled = 0, changed = 0;
    const uint64_t page = system_page_size();
    auto read = read_pages([&](const Run& r, uint64_t p, const uint8_t* bytes) {
        const uint64_t slot = r.first_slot + p;
        const uint64_t h = xxh64(bytes, page);
        ++sampled;
        if (known_[slot] && hashes_[slot] == h) return;
        // Changed, or never read before: then it may have changed.
        if (!known_[slot]) ++report.overapproximated;
        hashes_[slot] = h;
        known_[slot] = true;
        ++changed;
        ++report.pages;
        report.new_dirty += tracker.bitmap(r.region).mark(r.first_page + p);
        report.add_region(r.region, 1);
    });
    if (!read) return read.error();

    SampleEstimate e;
    if (options_.mode == SampleMode::exact) {
        e = SampleEstimate{.pages = double(changed), .sampled = sampled, .changed = changed, .total = total_pages_};
    } else {
        e = estimate_changed(changed, sampled, total_pages_);
        report.estimate = true;
        report.estimated_pages = e.pages;
        report.estimate_bound = e.bound;
    }
    {
        std::lock_guard lock(last_mutex_);
        last_ = e;
        last_read_ = *read;
    }
    report.cost = std::chrono::steady_clock::now() - start;
    return report;
}

SampleEstimate SampleSource::last_estimate() const {
    std::lock_guard lock(last_mutex_);
    return last_;
}

SampleReadStats SampleSource::last_read_stats() const {
    std::lock_guard lock(last_mutex_);
    return last_read_;
}

}  // namespace dtrack
