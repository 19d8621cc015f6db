#include "dtrack/rate_meter.hpp"

namespace dtrack {

RateMeter::RateMeter(Tracker& tracker, const Clock& clock) : tracker_(tracker), clock_(clock) {}

Status RateMeter::start() {
    const SyncReport r = tracker_.sync(SyncKind::background);
    if (!r.ok()) return r.errors.front();
    // The first interval starts at this harvest, which set every source's
    // baseline: its clock and counts are read now, not after the clearing
    // below, which takes its time on a large region (a sanitizer's shadow
    // took 25 s, and the first interval's rates came out 50 times too high).
    last_ = clock_.now();
    const Counters c = tracker_.counters();
    vcpu_pages_ = c.pages_per_vcpu();
    lost_ = 0;
    for (const SourceCounters& s : c.sources) lost_ += s.lost;
    seen_.clear();
    for (RegionId id = 0; id < tracker_.region_count(); ++id) {
        // The pages dirtied before the first interval are not its rate.
        auto cleared = tracker_.take(id, 0, tracker_.region(id).page_count, [](uint64_t, uint64_t) {});
        if (!cleared) return cleared.error();
        seen_.emplace_back(tracker_.region(id).page_count);
    }
    return Ok{};
}

Result<RateSample> RateMeter::sample() { return sample(TakenWords{}); }

Result<RateSample> RateMeter::sample(const TakenWords& each_taken) {
    const SyncReport report = tracker_.sync(SyncKind::background);
    if (!report.ok()) return report.errors.front();
    const auto now = clock_.now();
    RateSample s;
    s.seconds = std::chrono::duration<double>(now - last_).count();
    last_ = now;

    uint64_t distinct = 0, page_size = 4096;
    for (RegionId id = 0; id < tracker_.region_count(); ++id) {
        page_size = tracker_.region(id).page_size;
        DirtyBitmap& seen = seen_[id];
        auto taken = tracker_.take(id, 0, tracker_.region(id).page_count, [&](uint64_t w, uint64_t bits) {
            seen.or_words(w, {&bits, 1});
            if (each_taken) each_taken(id, w, bits);
        });
        if (!taken) return taken.error();
        distinct += *taken;
        s.working_set_pages += seen.count();
    }

    // Estimating sources replace what their sampled bits alone would say.
    const Counters c = tracker_.counters();
    s.distinct_pages = double(distinct);
    if (report.estimate) {
        s.estimate = true;
        s.distinct_pages = report.estimated_pages;
        s.bound_pages = report.estimate_bound;
    }
    s.bytes_per_s = s.seconds > 0 ? s.distinct_pages * double(page_size) / s.seconds : 0;

    const std::vector<uint64_t> vcpu_now = c.pages_per_vcpu();
    uint64_t lost_now = 0;
    for (const SourceCounters& src : c.sources) lost_now += src.lost;
    vcpu_pages_.resize(vcpu_now.size());
    for (size_t v = 0; v < vcpu_now.size(); ++v) {
        s.vcpu_pages_per_s.push_back(s.seconds > 0 ? double(vcpu_now[v] - vcpu_pages_[v]) / s.seconds : 0);
        vcpu_pages_[v] = vcpu_now[v];
    }
    s.lost = lost_now - lost_;
    lost_ = lost_now;
    return s;
}

}  // namespace dtrack
