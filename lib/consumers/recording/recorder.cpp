// Recorder: a tracker's dirty pages, interval by interval, into a Writer.
#include "dtrack/recording.hpp"

namespace dtrack::recording {

Recorder::Recorder(Tracker& tracker, Writer& writer, const Clock& clock)
    : tracker_(tracker), writer_(writer), clock_(clock) {}

namespace {

struct Totals {
    std::vector<uint64_t> vcpu_pages;
    uint64_t lost = 0, overapproximated = 0;
};

Totals totals(const Tracker& tracker) {
    const Counters c = tracker.counters();
    Totals t;
    t.vcpu_pages = c.pages_per_vcpu();
    for (const SourceCounters& s : c.sources) {
        t.lost += s.lost;
        t.overapproximated += s.overapproximated;
    }
    return t;
}

uint64_t since(Clock::time_point origin, Clock::time_point t) {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin).count());
}

}  // namespace

Status Recorder::start() {
    const SyncReport r = tracker_.sync(SyncKind::background);
    if (!r.ok()) return r.errors.front();
    for (RegionId id = 0; id < tracker_.region_count(); ++id) {
        // Pages dirtied before the first interval belong to no interval.
        auto cleared = tracker_.take(id, 0, tracker_.region(id).page_count, [](uint64_t, uint64_t) {});
        if (!cleared) return cleared.error();
    }
    Totals t = totals(tracker_);
    vcpu_pages_ = std::move(t.vcpu_pages);
    lost_ = t.lost;
    overapproximated_ = t.overapproximated;
    origin_ = last_ = clock_.now();
    index_ = 0;
    return Ok{};
}

Result<Recorder::Recorded> Recorder::record(std::optional<IntervalLogging> logging) {
    const SyncReport report = tracker_.sync(SyncKind::background);
    if (!report.ok()) return report.errors.front();
    const auto now = clock_.now();
    Recorded out;
    Interval& in = out.interval;
    in.index = index_++;
    in.logging = logging;
    in.start_ns = since(origin_, last_);
    in.end_ns = since(origin_, now);
    last_ = now;
    for (RegionId id = 0; id < tracker_.region_count(); ++id) {
        auto taken = tracker_.take(id, 0, tracker_.region(id).page_count,
                                   [&](uint64_t w, uint64_t bits) { in.add_word(id, w, bits); });
        if (!taken) return taken.error();
        out.pages += *taken;
    }
    if (report.estimate) {
        in.estimated_pages = report.estimated_pages;
        in.bound_pages = report.estimate_bound;
    }
    Totals t = totals(tracker_);
    if (!t.vcpu_pages.empty()) {
        vcpu_pages_.resize(t.vcpu_pages.size());
        for (size_t v = 0; v < t.vcpu_pages.size(); ++v) in.vcpu_pages.push_back(t.vcpu_pages[v] - vcpu_pages_[v]);
    }
    in.lost = t.lost - lost_;
    in.overapproximated = t.overapproximated - overapproximated_;
    vcpu_pages_ = std::move(t.vcpu_pages);
    lost_ = t.lost;
    overapproximated_ = t.overapproximated;

    // The writer takes the pages; the caller keeps the figures.
    std::vector<PageRun> pages = std::move(in.dirty);
    in.dirty = {};
    Interval queued = in;
    queued.dirty = std::move(pages);
    out.queued = writer_.push(std::move(queued));
    return out;
}

}  // namespace dtrack::recording
