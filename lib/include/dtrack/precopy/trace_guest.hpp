// TraceGuest: a guest that replays a recording (dtrack/recording.hpp), for
// `dtrack simulate --trace`.
//
// The recording's intervals come in order from an IntervalSource (the file
// reader, or InMemoryTrace in tests). The replay marks each interval's pages
// into the tracker's real bitmaps when replayed time passes the interval's
// end, so a sync finds the union of the intervals' runs since the one
// before, and the sender takes the real bitmaps in page order, in chunks as
// the real sender does.
//
// The throttle (approximation): a guest held pct% of the time gets through
// its recorded work at (1 - pct/100) of the recorded speed, so replayed time
// runs that much slower and it dirties proportionally less per second. That
// is exact for a guest whose vCPUs were busy writing, and pessimistic for one
// that idled (the throttle would have slowed it less). When the recording
// ends before the migration, it starts again from its first interval. A
// dropped interval (nothing is known of it) replays the pages of the interval
// before it; a recording of estimates (exact = false) replays its page sets
// as they are.
#pragma once

#include <optional>
#include <vector>

#include "dtrack/precopy/simulation.hpp"
#include "dtrack/recording.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

// A recording, interval by interval, in order.
class IntervalSource {
public:
    virtual ~IntervalSource() = default;
    virtual const recording::Header& header() const = 0;
    // The next interval, nullopt at the end, or what is wrong with the recording.
    virtual Result<std::optional<recording::Interval>> next() = 0;
    // Back to the first interval.
    virtual Status rewind() = 0;
};

class InMemoryTrace : public IntervalSource {
public:
    InMemoryTrace(recording::Header header, std::vector<recording::Interval> intervals)
        : header_(std::move(header)), intervals_(std::move(intervals)) {}
    const recording::Header& header() const override { return header_; }
    Result<std::optional<recording::Interval>> next() override {
        if (at_ >= intervals_.size()) return std::optional<recording::Interval>{};
        return std::optional<recording::Interval>(intervals_[at_++]);
    }
    Status rewind() override {
        at_ = 0;
        return Ok{};
    }

private:
    recording::Header header_;
    std::vector<recording::Interval> intervals_;
    size_t at_ = 0;
};

// A recording file (dtrack record, dtvm --record) as an IntervalSource. A
// file cut short replays up to its last whole interval; a corrupt record is
// an error naming its byte offset. Rewinding opens the file again.
Result<std::unique_ptr<IntervalSource>> open_recording_trace(const std::string& path);

class TraceGuest : public SimulatedGuest {
public:
    // Checks the header (regions, page size) and reads the first interval.
    static Result<std::unique_ptr<TraceGuest>> open(IntervalSource& source);

    std::string describe() const override;
    uint64_t page_size() const override { return page_size_; }
    uint64_t memory_pages() const override { return memory_pages_; }
    void run(std::chrono::nanoseconds d, int held_pct) override;
    Result<uint64_t> harvest(Tracker& tracker) override;
    double dirty_pages() const override;
    void discard_dirty() override;
    void begin_sweep(bool every_page) override;
    SimulatedPages ahead() const override;
    SimulatedPages take(double fraction) override;

    uint64_t loops() const { return loops_; }                        // times the replay started again
    uint64_t dropped_intervals() const { return dropped_; }          // replayed as the one before
    uint64_t replayed_intervals() const { return replayed_; }

protected:
    Status add_regions(Tracker& tracker) override;

private:
    explicit TraceGuest(IntervalSource& source) : source_(source) {}
    Status read_next();  // into current_, rewinding at the end

    // Pages the sender takes at once (as precopy_sender.cpp's take_chunk_pages).
    static constexpr uint64_t chunk_pages = 4096;

    IntervalSource& source_;
    uint64_t page_size_ = 4096;
    uint64_t memory_pages_ = 0;
    uint64_t origin_ns_ = 0;   // the first interval's start
    uint64_t length_ns_ = 0;   // of the whole recording
    double replayed_ns_ = 0;   // recorded time replayed, over all loops
    uint64_t loop_base_ns_ = 0;
    std::optional<recording::Interval> current_;
    std::vector<recording::PageRun> last_known_;
    std::vector<recording::PageRun> pending_;  // written since the last harvest
    std::optional<Error> error_;
    uint64_t loops_ = 0, dropped_ = 0, replayed_ = 0;

    Tracker* tracker_ = nullptr;
    bool every_page_ = false;
    RegionId cursor_region_ = 0;
    uint64_t cursor_page_ = 0;  // a multiple of 64
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
