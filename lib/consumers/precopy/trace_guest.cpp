#include "dtrack/precopy/trace_guest.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>

#include "consumers/precopy/trace_pending.hpp"
#include "consumers/precopy/trace_release.hpp"
#include "consumers/precopy/trace_ring_full.hpp"
#include "consumers/precopy/trace_zero_pages.hpp"
#include "dtrack/units.hpp"

namespace dtrack::precopy {

namespace {

Error bad_recording(const std::string& what) {
    return Error{EINVAL, "the recording " + what, "record again with dtrack record, or simulate with --model"};
}

// A DirtyBitmap of `pages`: its words and the two summary levels above them.
uint64_t bitmap_bytes(uint64_t pages) {
    const auto words = [](uint64_t bits) { return bits / 64 + (bits % 64 != 0); };
    const uint64_t w = words(pages), summary = words(w);
    return 8 * (w + summary + words(summary));
}

}  // namespace

uint64_t replay_bitmap_bytes(const recording::Header& h) {
    uint64_t n = 0;
    for (const Region& r : h.regions) n += 2 * bitmap_bytes(r.page_count);
    return n;
}

TraceGuest::TraceGuest(IntervalSource& source, TraceReplay replay)
    : source_(source), replay_(replay), release_(std::make_unique<ReleaseOrder>()) {}
TraceGuest::~TraceGuest() = default;

Result<std::unique_ptr<TraceGuest>> TraceGuest::open(IntervalSource& source, TraceReplay replay) {
    const recording::Header& h = source.header();
    if (h.regions.empty()) return bad_recording("has no regions");
    if (replay.peak < 0) return Error{EINVAL, "a negative peak", "give one vCPU's rate flat out, e.g. 200M/s"};
    if (replay.vcpus == 0) replay.vcpus = h.vcpus;
    if (replay.peak > 0 && replay.vcpus == 0)
        return Error{EINVAL, "a peak is per vCPU, and the recording (" + h.method + ") does not know the vCPUs",
                     "give the guest's vCPU count with the peak"};
    std::unique_ptr<TraceGuest> g(new TraceGuest(source, replay));
    g->page_size_ = h.regions.front().page_size;
    for (const Region& r : h.regions) {
        if (r.page_size != g->page_size_ || !std::has_single_bit(r.page_size))
            return bad_recording("has regions of different or odd page sizes (" + std::to_string(r.page_size) + ")");
        g->memory_pages_ += r.page_count;
    }
    if (g->memory_pages_ == 0) return bad_recording("has no pages");
    g->chunk_pages_ = std::max<uint64_t>(1, chunk_bytes / g->page_size_);
    if (replay.zero_pages > g->memory_pages_)
        return Error{EINVAL,
                     std::to_string(replay.zero_pages) + " zero pages is more than the recording's " +
                         std::to_string(g->memory_pages_) + " pages (" +
                         format_bytes(double(g->memory_pages_) * double(g->page_size_)) + ")",
                     "give at most the guest's memory as its zero pages"};
    const uint64_t zero_bitmap = replay.zero_pages ? 8 * (g->memory_pages_ / 64 + h.regions.size()) : 0;
    if (const uint64_t need = replay_bitmap_bytes(h) + zero_bitmap; need > replay.max_bitmap_bytes)
        return Error{EFBIG,
                     "the recording's regions hold " + std::to_string(g->memory_pages_) + " pages (" +
                         format_bytes(double(g->memory_pages_) * double(g->page_size_)) + "): replaying them takes " +
                         format_bytes(double(need)) + " of dirty bitmaps, more than the " +
                         format_bytes(double(replay.max_bitmap_bytes)) + " the replay may use",
                     "simulate a recording of less memory, or let the replay use more"};
    std::vector<uint64_t> region_pages;
    for (const Region& r : h.regions) region_pages.push_back(r.page_count);
    if (replay.zero_pages) g->zero_ = std::make_unique<TraceZeroPages>(region_pages, double(replay.zero_pages));
    g->pending_ = std::make_unique<PendingPages>(std::move(region_pages));
    if (Status s = g->read_next(); !s) return s.error();
    if (!g->current_) return bad_recording("has no intervals");
    return g;
}

std::string TraceGuest::describe() const {
    const recording::Header& h = source_.header();
    std::string s = "trace: " + format_bytes(double(memory_pages_ * page_size_)) + " in " +
                    std::to_string(h.regions.size()) + " regions, recorded with " +
                    (h.method.empty() ? std::string("an unnamed method") : h.method) +
                    (h.exact ? "" : " (page sets are estimates)");
    if (!h.target.empty()) s += ", " + h.target;
    if (replay_.zero_pages)
        s += ", " + format_bytes(double(replay_.zero_pages * page_size_)) + " of zero pages at the start";
    if (vcpus_.limited()) s += "; " + vcpu_view_;
    if (replay_.peak > 0)
        s += "; " + std::to_string(replay_.vcpus) + (replay_.vcpus == 1 ? " vCPU" : " vCPUs") + ", each " +
             format_bytes(replay_.peak) + "/s flat out";
    return s;
}

Status TraceGuest::add_regions(Tracker& tracker) {
    for (const Region& r : source_.header().regions)
        if (auto id = tracker.add_region(r); !id) return id.error();
    tracker_ = &tracker;
    return Ok{};
}

Status TraceGuest::read_next() {
    auto next = source_.next();
    if (!next) return next.error();
    if (!next->has_value()) {
        if (!current_) return Ok{};  // an empty recording: open() says so
        // The end: start again from the first interval. A pass that took no
        // time would replay for ever within one instant.
        if (loop_ns_ == 0) return bad_recording("spans no time: its intervals end where they start");
        loop_ns_ = 0;
        ++loops_;
        if (Status s = source_.rewind(); !s) return s;
        next = source_.next();
        if (!next) return next.error();
        if (!next->has_value()) return bad_recording("had intervals and has none after a rewind");
        current_.reset();  // the order check starts again
    }
    recording::Interval& i = **next;
    if (i.end_ns < i.start_ns) return bad_recording("interval " + std::to_string(i.index) + " ends before it starts");
    if (current_ && i.start_ns < current_->start_ns)
        return bad_recording("interval " + std::to_string(i.index) + " starts before the one it follows");
    loop_ns_ += i.end_ns - i.start_ns;
    current_ = std::move(i);
    enter_interval();
    return Ok{};
}

void TraceGuest::enter_interval() {
    const std::vector<recording::PageRun>& pages = current_pages();
    const std::vector<Region>& regions = source_.header().regions;
    for (const recording::PageRun& run : pages)
        if (run.region >= regions.size() || run.first > regions[run.region].page_count ||
            run.count > regions[run.region].page_count - run.first) {
            error_ = bad_recording("names pages outside its regions (region " + std::to_string(run.region) +
                                   ", pages " + std::to_string(run.first) + " + " + std::to_string(run.count) + ")");
            break;
        }
    release_->reset(pages, current_->dropped ? ~current_->index : current_->index);
    released_ = 0;
}

const std::vector<recording::PageRun>& TraceGuest::current_pages() const {
    return current_->dropped ? last_known_ : current_->dirty;
}

double TraceGuest::speed(int held_pct) const {
    if (vcpus_.limited()) return limited_speed(held_pct);
    const double running = std::clamp(100 - held_pct, 0, 100) / 100.0;
    if (replay_.peak <= 0 || running == 0) return running;
    const double length_s = double(current_->end_ns - current_->start_ns) / 1e9;
    double pages = current_->estimated() ? current_->estimated_pages : 0;
    if (pages == 0) pages = double(release_->pages());
    if (length_s <= 0 || pages <= 0) return 1;  // nothing written: nothing to slow down
    const double recorded_rate = pages * double(page_size_) / length_s;
    return std::min(1.0, double(replay_.vcpus) * replay_.peak * running / recorded_rate);
}

void TraceGuest::release_until(double upto) {
    if (upto <= released_ || error_) return;
    release_->release(upto, [&](const recording::PageRun& r) {
        pending_->add(r.region, r.first, r.count);
        if (zero_) zero_->written(r.region, r.first, r.count);
        if (ring_full_) ring_full_->wrote(r.region, r.first, r.count);
    });
    released_ = upto;
}

void TraceGuest::finish_interval() {
    if (current_->dropped) ++dropped_;
    else last_known_ = std::move(current_->dirty);
    ++replayed_;
    if (Status s = read_next(); !s) error_ = s.error();
}

void TraceGuest::run(std::chrono::nanoseconds d, int held_pct) {
    if (error_ || !current_) return;
    if (ring_full_) replay_with_ring_full(double(d.count()), held_pct);
    else replay(double(d.count()), held_pct);
}

void TraceGuest::replay(double wall_ns, int held_pct) {
    // A pass through the whole recording within this call: the wall time it
    // took, and its intervals; the passes after it write the same pages.
    std::optional<double> pass_began;
    uint64_t pass_intervals = 0, pass_dropped = 0;
    while (wall_ns > 0 && !error_) {
        const double f = speed(held_pct);
        if (f <= 0) return;  // paused: recorded time stands still
        const double length_ns = double(current_->end_ns - current_->start_ns);
        const double left_ns = (1 - released_) * length_ns;  // recorded time left in this interval
        if (left_ns > wall_ns * f) {
            note_vcpu_writes(wall_ns * f / length_ns, held_pct, f);
            release_until(released_ + wall_ns * f / length_ns);
            return;
        }
        wall_ns -= left_ns / f;
        note_vcpu_writes(1 - released_, held_pct, f);
        release_until(1);
        pass_dropped += current_->dropped;
        ++pass_intervals;
        const uint64_t loops = loops_;
        finish_interval();
        if (loops_ == loops) continue;
        if (pass_began && *pass_began > wall_ns) {
            const double pass_ns = *pass_began - wall_ns;
            const uint64_t skip = uint64_t(std::min(std::floor(wall_ns / pass_ns), 1e18));
            wall_ns -= double(skip) * pass_ns;
            loops_ += skip;
            replayed_ += skip * pass_intervals;
            dropped_ += skip * pass_dropped;
        }
        pass_began = wall_ns;
        pass_intervals = pass_dropped = 0;
    }
}

Result<uint64_t> TraceGuest::harvest(Tracker& tracker) {
    if (error_) return *error_;
    uint64_t fresh = 0, written = 0;
    pending_->drain([&](RegionId r, uint64_t first, uint64_t count) {
        if (r >= tracker.region_count()) return;
        written += count;
        // A sweep of the dirty pages under way takes those at or past its cursor in this round.
        uint64_t behind = 0;
        if (!every_page_ && r == cursor_region_)
            behind = std::min(count, cursor_page_ > first ? cursor_page_ - first : 0);
        else if (!every_page_ && r < cursor_region_) behind = count;
        fresh += tracker.bitmap(r).mark_range(first, behind);
        const uint64_t ahead = tracker.bitmap(r).mark_range(first + behind, count - behind);
        fresh += ahead;
        dirty_ahead_ += double(ahead);
    });
    vcpus_.harvested(double(written));
    if (ring_full_) ring_full_->reset();  // KVM_RESET_DIRTY_RINGS: every page clean again
    return fresh;
}

double TraceGuest::dirty_pages() const {
    double n = 0;
    for (RegionId r = 0; r < tracker_->region_count(); ++r) n += double(tracker_->bitmap(r).count());
    return n;
}

void TraceGuest::discard_dirty() {
    for (RegionId r = 0; r < tracker_->region_count(); ++r)
        (void)tracker_->take(r, 0, tracker_->region(r).page_count, [](uint64_t, uint64_t) {});  // nothing to re-protect
}

void TraceGuest::begin_sweep(bool every_page) {
    every_page_ = every_page;
    cursor_region_ = 0;
    cursor_page_ = 0;
    if (!every_page) zero_.reset();  // round 1 is over: a page written since holds data
    // The pages deferral keeps are dirty but not this sweep's.
    dirty_ahead_ = every_page ? 0 : dirty_pages() - double(deferral_ ? deferral_->kept_pages() : 0);
}

SimulatedPages TraceGuest::ahead() const {
    // Past the last region nothing is ahead, whatever a reaping counted.
    if (!every_page_) return {cursor_region_ < tracker_->region_count() ? dirty_ahead_ : 0, 0};
    double n = 0;
    for (RegionId r = cursor_region_; r < tracker_->region_count(); ++r)
        n += double(tracker_->region(r).page_count - (r == cursor_region_ ? cursor_page_ : 0));
    return {n, zero_ ? zero_->ahead() : 0};
}

SimulatedPages TraceGuest::take(double fraction) {
    const double target = std::clamp(fraction, 0.0, 1.0) * ahead().pages;
    double taken = 0, zero = 0;
    while (cursor_region_ < tracker_->region_count() && (fraction >= 1 || taken < target)) {
        const uint64_t pages = tracker_->region(cursor_region_).page_count;
        const uint64_t n = std::min(chunk_pages_, pages - cursor_page_);
        if (every_page_) {
            taken += double(n);
            if (zero_) zero += zero_->take(cursor_region_, cursor_page_, n);
        } else {
            // The simulated source re-protects nothing, so a take cannot
            // fail. Deferred pages stay dirty, as in the sender's take.
            const auto keep = deferral_ ? deferral_->keep(cursor_region_) : std::span<const uint64_t>();
            auto got = tracker_->take_keeping(cursor_region_, cursor_page_, n, keep, [](uint64_t, uint64_t) {});
            taken += got ? double(*got) : 0;
        }
        cursor_page_ += n;
        if (cursor_page_ >= pages) {
            ++cursor_region_;
            cursor_page_ = 0;
        }
    }
    if (!every_page_) dirty_ahead_ = std::max(0.0, dirty_ahead_ - taken);
    return {taken, zero};
}

Status TraceGuest::start_at(std::chrono::nanoseconds at) {
    const uint64_t origin = current_->start_ns, at_ns = uint64_t(std::max<int64_t>(0, at.count()));
    while (current_->end_ns - origin <= at_ns) {
        if (error_) return *error_;
        if (zero_)
            for (const recording::PageRun& r : current_pages()) zero_->written(r.region, r.first, r.count);
        const uint64_t loops = loops_;
        finish_interval();
        if (error_) return *error_;
        if (loops_ != loops)
            return Error{EINVAL, "the migration starts past the recording's end",
                         "give a start within the recording (dtrack report says how long it is)"};
    }
    // The part of this interval before the start was written before it too.
    const double length_ns = double(current_->end_ns - current_->start_ns);
    const double into_ns = double(at_ns) - double(current_->start_ns - origin);
    if (length_ns > 0 && into_ns > 0) {
        release_->release(into_ns / length_ns, [&](const recording::PageRun& r) {
            if (zero_) zero_->written(r.region, r.first, r.count);
        });
        released_ = into_ns / length_ns;
    }
    replayed_ = dropped_ = 0;
    started_s_ = double(at_ns) / 1e9;
    return Ok{};
}

std::optional<double> TraceGuest::plan_deferral(const HotPageDeferralOptions& options, double capacity) {
    if (!deferral_) {
        std::vector<uint64_t> region_pages;
        for (RegionId r = 0; r < tracker_->region_count(); ++r) region_pages.push_back(tracker_->region(r).page_count);
        deferral_ = std::make_unique<HotPageDeferral>(options, std::move(region_pages));
    }
    std::vector<const DirtyBitmap*> dirty;
    for (RegionId r = 0; r < tracker_->region_count(); ++r) dirty.push_back(&tracker_->bitmap(r));
    return double(deferral_->plan(dirty, capacity).deferred);
}

void TraceGuest::defer(double pages) {
    if (pages == 0 && deferral_) deferral_->release_all();
}

}  // namespace dtrack::precopy
