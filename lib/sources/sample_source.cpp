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

#include "dtrack/hash.hpp"
#include "dtrack/process_memory.hpp"
#include "dtrack/units.hpp"
#include "sources/remote_page_reader.hpp"
#include "sources/resident_pages.hpp"

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
    const double n = n0 / (1 + (n0 - 1) / double(total));          // finite-population correction
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
    for (Region& r : *regions) {
        auto id = tracker.add_region(std::move(r));
        if (!id) return id.error();
        ids.push_back(id.value());
    }
    return ids;
}

// --- the source -------------------------------------------------------------------

Result<std::unique_ptr<SampleSource>> SampleSource::track(Tracker& tracker, pid_t pid, std::vector<RegionId> regions,
                                                          SampleOptions options) {
    if (pid <= 0) return Error{EINVAL, "pid " + std::to_string(pid) + " is not a process id", "give a PID > 0"};
    const uint64_t page = system_page_size();
    uint64_t total = 0;
    std::vector<Range> ranges;
    for (RegionId id : regions) {
        if (id >= tracker.region_count())
            return Error{EINVAL, "no region " + std::to_string(id) + " in the tracker", "add the region first"};
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::host_virtual || r.page_size != page || r.base % page)
            return Error{EINVAL, "region '" + r.name + "' is not host virtual memory in whole pages",
                         "give host_virtual regions with page_size " + std::to_string(page) + " (process_regions)"};
        total += r.page_count;
        if (r.page_count) ranges.push_back({id, r.base, r.end()});
    }
    if (total == 0) return Error{EINVAL, "no pages to track", "give at least one non-empty region"};
    std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.base < b.base; });
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].base < ranges[i - 1].end)
            return Error{EINVAL, "regions overlap", "give each page of the process to one region only"};
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
    auto resident = ResidentPages::open(pid, page);
    if (!resident) return resident.error();

    if (options.seed == 0) options.seed = (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
    std::unique_ptr<SampleSource> source(
        new SampleSource(pid, std::move(pidfd), options, std::make_unique<ResidentPages>(std::move(resident.value()))));
    source->total_pages_ = total;
    source->ranges_ = std::move(ranges);
    source->reader_ = std::make_unique<RemotePageReader>(pid, page, options.pages_per_read);

    // The baseline: what each present page of the sample holds now.
    SampleReadStats stats;
    auto baseline = source->observe(true, stats);
    if (!baseline) {  // gone meanwhile, no permission, too big
        if (baseline.error().errno_value == ESRCH) return source->gone_error();
        return baseline.error();
    }
    source->last_read_ = stats;
    return source;
}

SampleSource::SampleSource(pid_t pid, UniqueFd pidfd, SampleOptions options, std::unique_ptr<ResidentPages> resident)
    : pid_(pid),
      pidfd_(std::move(pidfd)),
      options_(options),
      page_size_(system_page_size()),
      resident_(std::move(resident)) {
    const std::vector<uint8_t> zeros(page_size_, 0);
    zero_hash_ = xxh3_64(zeros.data(), page_size_);
}

SampleSource::~SampleSource() = default;

bool SampleSource::exited() const {
    if (!pidfd_.valid()) return ::kill(pid_, 0) != 0 && errno == ESRCH;
    pollfd p{pidfd_.get(), POLLIN, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN);
}

// The fds opened at start (pagemap, the process's memory) answer ESRCH both
// when the process has exited and when it has run a new program: its old
// memory is gone either way, but only the pidfd tells which.
Error SampleSource::gone_error() const { return exited() ? process_exited_error(pid_) : process_replaced_error(pid_); }

bool SampleSource::sampled(uint64_t address, uint64_t threshold) const {
    if (options_.mode == SampleMode::exact || threshold == ~0ULL) return true;
    return splitmix64(address ^ options_.seed) < threshold;
}

uint64_t SampleSource::threshold_for(uint64_t present) const {
    if (options_.mode == SampleMode::exact || present == 0) return ~0ULL;
    const uint64_t n =
        options_.sample_pages ? std::min(options_.sample_pages, present) : sample_size_for(options_.max_error, present);
    if (n >= present) return ~0ULL;
    return uint64_t(std::ldexp(double(n) / double(present), 64));
}

const SampleSource::Range* SampleSource::range_of(uint64_t address) const {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                               [](uint64_t a, const Range& r) { return a < r.base; });
    if (it == ranges_.begin()) return nullptr;
    --it;
    return address < it->end ? &*it : nullptr;
}

Result<SampleSource::Compared> SampleSource::observe(bool baseline_only, SampleReadStats& stats) {
    // 1. What is there: one scan per range.
    std::vector<ResidentRun> runs;
    for (const Range& r : ranges_)
        if (Status s = resident_->scan(r.base, r.end, runs); !s) return s.error();
    std::vector<ResidentRun> swapped;
    for (const ResidentRun& run : runs) {
        const uint64_t pages = (run.end - run.start) / page_size_;
        switch (run.residency) {
            case Residency::present: stats.present += pages; break;
            case Residency::zero: stats.zero += pages; break;
            case Residency::swapped: stats.swapped += pages, swapped.push_back(run); break;
        }
    }
    // The hashes to keep: one per sampled present page.
    const uint64_t keep_threshold = threshold_for(stats.present);
    const uint64_t to_keep =
        keep_threshold == ~0ULL ? stats.present : uint64_t(std::ldexp(double(keep_threshold), -64) * stats.present);
    if (to_keep * sizeof(Hashed) > options_.max_state_bytes)
        return Error{ENOMEM,
                     "process " + std::to_string(pid_) + " has " + std::to_string(stats.present) +
                         " present pages: hashing " + std::to_string(to_keep) + " of them would keep " +
                         format_bytes(double(to_keep * sizeof(Hashed))) + " of hashes, over the limit of " +
                         format_bytes(double(options_.max_state_bytes)),
                     "sample instead of hashing every page (SampleMode::sample, or a larger "
                     "SampleOptions::max_error), or raise the limit (SampleOptions::max_state_bytes)"};

    // 2. The sample: nested thresholds, so a page compared now was in the
    // sample at the last harvest too (its baseline is known).
    const uint64_t compare_threshold = threshold_;
    const uint64_t read_threshold = baseline_only ? keep_threshold : std::max(compare_threshold, keep_threshold);
    std::vector<RemotePageReader::Run> reads;
    for (const ResidentRun& run : runs) {
        if (run.residency != Residency::present) continue;
        for (uint64_t a = run.start; a < run.end; a += page_size_) {
            if (!sampled(a, read_threshold)) continue;
            if (!reads.empty() && reads.back().address + reads.back().pages * page_size_ == a) ++reads.back().pages;
            else reads.push_back({a, 1});
        }
    }

    // 3. Read and hash, in address order.
    std::vector<Hashed> fresh;
    auto read = reader_->read(
        reads,
        [&](size_t run, uint64_t page, const uint8_t* bytes) {
            fresh.push_back({reads[run].address + page * page_size_, xxh3_64(bytes, page_size_)});
        },
        [](size_t, uint64_t) {});  // unmapped under us: counted by the reader
    if (!read) return read.error();
    stats.pages_read = read->pages_read;
    stats.unreadable = read->unreadable;
    stats.read_calls = read->calls;

    // 4. Compare with the last harvest and keep the new sample. A page with
    // no hash from the last harvest was absent then: zeros. (Or swapped out
    // before it was ever read: then its first read counts it as written if
    // it holds anything, an over-approximation, never a loss.)
    auto is_swapped = [&](uint64_t a) {
        auto it = std::upper_bound(swapped.begin(), swapped.end(), a,
                                   [](uint64_t x, const ResidentRun& r) { return x < r.start; });
        return it != swapped.begin() && a < std::prev(it)->end;
    };
    Compared out;
    std::vector<Hashed> kept;
    kept.reserve(fresh.size());
    size_t i = 0;  // into hashed_ (the last harvest), merged with fresh by address
    for (const Hashed& now : fresh) {
        for (; i < hashed_.size() && hashed_[i].address < now.address; ++i) {
            // Sampled then, not read now: swapped out (keep the baseline), or gone.
            const Hashed& old = hashed_[i];
            if (is_swapped(old.address)) {
                if (sampled(old.address, keep_threshold)) kept.push_back(old);
            } else if (old.hash != zero_hash_) {
                ++stats.dropped;
            }
        }
        const Hashed* old = i < hashed_.size() && hashed_[i].address == now.address ? &hashed_[i++] : nullptr;
        bool dirtied = old && old->dirtied;
        if (!baseline_only && sampled(now.address, compare_threshold)) {
            ++out.sampled;
            if (now.hash != (old ? old->hash : zero_hash_)) {
                ++out.changed;
                out.changed_addresses.push_back(now.address);
                dirtied = true;
            }
        }
        if (sampled(now.address, keep_threshold)) kept.push_back({now.address, now.hash, dirtied});
    }
    for (; i < hashed_.size(); ++i) {
        const Hashed& old = hashed_[i];
        if (is_swapped(old.address)) {
            if (sampled(old.address, keep_threshold)) kept.push_back(old);
        } else if (old.hash != zero_hash_) {
            ++stats.dropped;
        }
    }
    hashed_ = std::move(kept);
    threshold_ = keep_threshold;
    for (const Hashed& h : hashed_) out.dirtied_in_sample += h.dirtied;
    out.in_sample = hashed_.size();
    return out;
}

Result<HarvestReport> SampleSource::harvest(Tracker& tracker) {
    const auto start = std::chrono::steady_clock::now();
    if (exited()) return process_exited_error(pid_);

    SampleReadStats stats;
    auto compared = observe(false, stats);
    if (!compared) {
        if (compared.error().errno_value == ESRCH || exited()) return gone_error();
        return compared.error();
    }
    HarvestReport report;
    for (uint64_t a : compared->changed_addresses) {
        const Range* r = range_of(a);
        if (!r) continue;
        ++report.pages;
        report.new_dirty += tracker.bitmap(r->region).mark((a - r->base) / page_size_);
        report.add_region(r->region, 1);
    }

    SampleEstimate e = estimate_changed(compared->changed, compared->sampled, stats.present);
    e.in_sample = compared->in_sample;
    e.working_set = compared->in_sample
                        ? double(compared->dirtied_in_sample) / double(compared->in_sample) * double(stats.present)
                        : 0;
    if (options_.mode == SampleMode::exact && compared->sampled >= stats.present) {
        e.bound = 0;
    } else {
        report.estimate = true;
        report.estimated_pages = e.pages;
        report.estimate_bound = e.bound;
    }
    {
        std::lock_guard lock(last_mutex_);
        last_ = e;
        last_read_ = stats;
    }
    report.cost = std::chrono::steady_clock::now() - start;
    return report;
}

uint64_t SampleSource::sample_size() const {
    std::lock_guard lock(last_mutex_);
    return last_read_.pages_read;
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
