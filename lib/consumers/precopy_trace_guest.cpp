#include "dtrack/precopy/trace_guest.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>

#include "dtrack/units.hpp"

namespace dtrack::precopy {

namespace {

Error bad_recording(const std::string& what) {
    return Error{EINVAL, "the recording " + what, "record again with dtrack record, or simulate with --model"};
}

}  // namespace

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
    if (replay_.peak > 0)
        s += "; " + std::to_string(replay_.vcpus) + (replay_.vcpus == 1 ? " vCPU" : " vCPUs") + ", each " + format_bytes(replay_.peak) + "/s flat out";
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
    if (i.end_ns < i.start_ns)
        return bad_recording("interval " + std::to_string(i.index) + " ends before it starts");
    if (current_ && i.start_ns < current_->start_ns)
        return bad_recording("interval " + std::to_string(i.index) + " starts before the one it follows");
    loop_ns_ += i.end_ns - i.start_ns;
    current_ = std::move(i);
    released_ = 0;
    return Ok{};
}

const std::vector<recording::PageRun>& TraceGuest::current_pages() const {
    return current_->dropped ? last_known_ : current_->dirty;
}

double TraceGuest::speed(int held_pct) const {
    const double running = std::clamp(100 - held_pct, 0, 100) / 100.0;
    if (replay_.peak <= 0 || running == 0) return running;
    const double length_s = double(current_->end_ns - current_->start_ns) / 1e9;
    double pages = current_->estimated() ? current_->estimated_pages : 0;
    if (pages == 0)
        for (const recording::PageRun& r : current_pages()) pages += double(r.count);
    if (length_s <= 0 || pages <= 0) return 1;  // nothing written: nothing to slow down
    const double recorded_rate = pages * double(page_size_) / length_s;
    return std::min(1.0, double(replay_.vcpus) * replay_.peak * running / recorded_rate);
}

namespace {

// A page's moment in its interval, 0 <= m < 1: the same in every replay,
// and spread evenly over the interval whatever the pages' addresses.
double moment(RegionId region, uint64_t page) {
    uint64_t x = (uint64_t(region) << 48) ^ page ^ 0x9e3779b97f4a7c15ULL;  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return double(x >> 11) * 0x1p-53;
}

}  // namespace

void TraceGuest::release_until(double upto) {
    if (upto <= released_) return;
    const std::vector<recording::PageRun>& pages = current_pages();
    if (released_ == 0 && upto >= 1) {
        pending_.insert(pending_.end(), pages.begin(), pages.end());
    } else {
        for (const recording::PageRun& run : pages)
            for (uint64_t p = run.first; p < run.first + run.count; ++p) {
                const double m = moment(run.region, p);
                if (m < released_ || m >= upto) continue;
                if (!pending_.empty() && pending_.back().region == run.region &&
                    pending_.back().first + pending_.back().count == p)
                    ++pending_.back().count;
                else
                    pending_.push_back({run.region, p, 1});
            }
    }
    released_ = upto;
}

void TraceGuest::run(std::chrono::nanoseconds d, int held_pct) {
    if (error_ || !current_) return;
    double wall_ns = double(d.count());
    while (wall_ns > 0) {
        const double f = speed(held_pct);
        if (f <= 0) return;  // paused: recorded time stands still
        const double length_ns = double(current_->end_ns - current_->start_ns);
        const double left_ns = (1 - released_) * length_ns;  // recorded time left in this interval
        if (left_ns > wall_ns * f) {
            release_until(released_ + wall_ns * f / length_ns);
            return;
        }
        wall_ns -= left_ns / f;
        release_until(1);
        if (current_->dropped) ++dropped_;
        else last_known_ = current_->dirty;
        ++replayed_;
        if (Status s = read_next(); !s) {
            error_ = s.error();
            return;
        }
    }
}

Result<uint64_t> TraceGuest::harvest(Tracker& tracker) {
    if (error_) return *error_;
    uint64_t fresh = 0;
    for (const recording::PageRun& run : pending_) {
        if (run.region >= tracker.region_count() || run.first > tracker.region(run.region).page_count ||
            run.count > tracker.region(run.region).page_count - run.first)
            return bad_recording("names pages outside its regions (region " + std::to_string(run.region) +
                                 ", pages " + std::to_string(run.first) + " + " + std::to_string(run.count) + ")");
        fresh += tracker.bitmap(run.region).mark_range(run.first, run.count);
    }
    pending_.clear();
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
}

SimulatedPages TraceGuest::ahead() const {
    double n = 0;
    for (RegionId r = cursor_region_; r < tracker_->region_count(); ++r) {
        const uint64_t first = r == cursor_region_ ? cursor_page_ : 0;
        if (every_page_) {
            n += double(tracker_->region(r).page_count - first);
        } else if (first == 0) {
            n += double(tracker_->bitmap(r).count());
        } else {
            tracker_->bitmap(r).for_each_word([&](uint64_t, uint64_t bits) { n += std::popcount(bits); }, first / 64);
        }
    }
    return {n, 0};
}

SimulatedPages TraceGuest::take(double fraction) {
    const double target = std::clamp(fraction, 0.0, 1.0) * ahead().pages;
    double taken = 0;
    while (cursor_region_ < tracker_->region_count() && (fraction >= 1 || taken < target)) {
        const uint64_t pages = tracker_->region(cursor_region_).page_count;
        const uint64_t n = std::min(chunk_pages, pages - cursor_page_);
        if (every_page_) {
            taken += double(n);
        } else {
            // The simulated source re-protects nothing, so a take cannot fail.
            auto got = tracker_->take(cursor_region_, cursor_page_, n, [](uint64_t, uint64_t) {});
            taken += got ? double(*got) : 0;
        }
        cursor_page_ += n;
        if (cursor_page_ >= pages) {
            ++cursor_region_;
            cursor_page_ = 0;
        }
    }
    return {taken, 0};
}

}  // namespace dtrack::precopy
