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

Result<std::unique_ptr<TraceGuest>> TraceGuest::open(IntervalSource& source) {
    const recording::Header& h = source.header();
    if (h.regions.empty()) return bad_recording("has no regions");
    std::unique_ptr<TraceGuest> g(new TraceGuest(source));
    g->page_size_ = h.regions.front().page_size;
    for (const Region& r : h.regions) {
        if (r.page_size != g->page_size_ || !std::has_single_bit(r.page_size))
            return bad_recording("has regions of different or odd page sizes (" + std::to_string(r.page_size) + ")");
        g->memory_pages_ += r.page_count;
    }
    if (g->memory_pages_ == 0) return bad_recording("has no pages");
    if (Status s = g->read_next(); !s) return s.error();
    if (!g->current_) return bad_recording("has no intervals");
    g->origin_ns_ = g->current_->start_ns;
    return g;
}

std::string TraceGuest::describe() const {
    const recording::Header& h = source_.header();
    std::string s = "trace: " + format_bytes(double(memory_pages_ * page_size_)) + " in " +
                    std::to_string(h.regions.size()) + " regions, recorded with " +
                    (h.method.empty() ? std::string("an unnamed method") : h.method) +
                    (h.exact ? "" : " (page sets are estimates)");
    if (!h.target.empty()) s += ", " + h.target;
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
        // The end: start again from the first interval, later by the recording's length.
        if (!current_ && replayed_ == 0 && loops_ == 0) {
            current_.reset();
            return Ok{};
        }
        const uint64_t end = current_ ? current_->end_ns : origin_ns_;
        if (end <= origin_ns_) return bad_recording("spans no time: its intervals end where they start");
        loop_base_ns_ += end - origin_ns_;
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
    current_ = std::move(i);
    return Ok{};
}

void TraceGuest::run(std::chrono::nanoseconds d, int held_pct) {
    if (error_ || !current_) return;
    replayed_ns_ += double(d.count()) * std::clamp(100 - held_pct, 0, 100) / 100.0;
    while (current_ && double(loop_base_ns_ + (current_->end_ns - origin_ns_)) <= replayed_ns_) {
        if (current_->dropped) {
            ++dropped_;
            pending_.insert(pending_.end(), last_known_.begin(), last_known_.end());
        } else {
            pending_.insert(pending_.end(), current_->dirty.begin(), current_->dirty.end());
            last_known_ = current_->dirty;
        }
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
