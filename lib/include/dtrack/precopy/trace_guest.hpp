// TraceGuest: a guest that replays a recording (dtrack/recording.hpp), for
// `dtrack simulate --trace`.
//
// The recording's intervals come in order from an IntervalSource (the file
// reader, or InMemoryTrace in tests). The replay marks the intervals' pages
// into the tracker's real bitmaps as replayed time passes them, so a sync
// finds the union of what was replayed since the one before, and the sender
// takes the real bitmaps in page order, in chunks as the real sender does.
//
// Pages come out of an interval as replayed time moves through it, not all
// at its end: each page at its own moment in the interval, the same for
// every replay (a hash of the page), so a sync in the middle of an interval
// finds the share of it that came before, as it would on the real guest.
//
// The throttle holds each vCPU pct% of the time. A vCPU that writes `peak`
// bytes/s when it runs flat out writes at most peak * (1 - pct/100); an
// interval recorded at r bytes/s replays at the speed
//     min(1, vcpus * peak * (1 - pct/100) / r)
// of the recording (guest_model.hpp's rate(pct), interval by interval; r
// counts distinct pages, a lower bound of the writes). Without a peak the
// vCPUs are taken to be busy writing: every interval replays at
// (1 - pct/100) of its speed, which is pessimistic for a guest that idled or
// paced itself. When the recording ends before the migration, it starts
// again from its first interval. A dropped interval (nothing is known of it)
// replays the pages of the interval before it; a recording of estimates
// (exact = false) replays its page sets as they are.
//
// Under a dirty limit each vCPU v is held its own share s_v of the time it
// runs. An interval's pages are split over the vCPUs by the recording's
// per-vCPU counts (w_v, summing to 1; evenly without them), each vCPU
// replays at f_v = (1 - pct/100)(1 - s_v), or with a peak
// min(1, peak (1 - pct/100)(1 - s_v) / (w_v r)), and the interval at the
// speed sum of w_v f_v. The pages reported for vCPU v are the recording's
// own counts (ring entries, a page counted again after each reset), replayed
// at v's share w_v f_v of that speed; a recording without them reports the
// distinct pages written between two syncs, split over the vCPUs evenly
// (simulated_vcpus.hpp).
//
// What a file can make a replay hold, and do, is bounded: the dirty set is
// a bitmap, and the pages written since the last harvest are runs that
// spill into a second one (two bits per page of the header's regions in
// all, refused past TraceReplay::max_bitmap_bytes); an interval of more
// than 65,536 pages comes out in 65,536 stretches (each at the moment of
// its first page) whatever its runs hold; and a replay that passes through
// the whole recording more than once in one run() replays it once (the
// pages it writes are the same).
#pragma once

#include <memory>
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
// an error naming its byte offset, and one over `limits` an error (EFBIG)
// saying so, with `raise_limits` as its fix (how the caller's user raises
// them). Rewinding reads the same open file from its first record.
Result<std::unique_ptr<IntervalSource>> open_recording_trace(const std::string& path, recording::ReadLimits limits = {},
                                                             std::string raise_limits = {});
// The same over a reader already open (Reader::from_bytes: the fuzzer);
// `name` stands for the path in messages.
std::unique_ptr<IntervalSource> recording_trace(recording::Reader reader, std::string name,
                                                std::string raise_limits = {});

// How the recorded guest answers the throttle, and what it may hold.
struct TraceReplay {
    double peak = 0;     // one vCPU's rate flat out, bytes/s; 0: busy vCPUs (see above)
    uint32_t vcpus = 0;  // 0: the recording's (its header's vcpus)
    // The most the replay's two bitmaps may take (replay_bitmap_bytes): a
    // header that declares more memory is refused (EFBIG).
    uint64_t max_bitmap_bytes = 256ULL << 20;
    // Pages all zeros when the migration starts (--zero-pages): round 1
    // sends them as flags unless the replay writes them first
    // (trace_zero_pages.hpp). At most the recording's pages; a bit per page
    // more of bitmap while round 1 lasts.
    uint64_t zero_pages = 0;
};

// What replaying a recording of these regions takes in bitmaps: the dirty
// set and the pages written since the last harvest, a bit per page each,
// with their summary levels.
uint64_t replay_bitmap_bytes(const recording::Header& header);

class ReleaseOrder;
class PendingPages;
class TraceZeroPages;
class RingFullSleeps;

class TraceGuest : public SimulatedGuest {
public:
    // Checks the header (regions, page size) and the replay (a peak needs
    // the vCPU count), and reads the first interval.
    static Result<std::unique_ptr<TraceGuest>> open(IntervalSource& source, TraceReplay replay = {});
    ~TraceGuest() override;

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
    // The recording's vCPUs, each interval's pages split over them by its
    // per-vCPU counts; a recording without them needs TraceReplay::vcpus,
    // over which its writes are taken as spread evenly (trace_vcpus.cpp).
    Status limit_vcpus() override;
    // Ring-full sleeps (trace_ring_full.hpp) in place of a share of every slice.
    Status sleep_at_ring_full(uint64_t ring_entries) override;
    // Hot-page deferral on the replay's real pages: the sender's own policy
    // (HotPageDeferral) decides on the tracker's bitmaps, and the sweep takes
    // around the pages it keeps, as the Sender does.
    std::optional<double> plan_deferral(const HotPageDeferralOptions& options, double capacity) override;
    void defer(double pages) override;  // 0: the final round, nothing kept

    // The migration starts `at` into the recording (a guest that ran that
    // long, e.g. its warmup): the intervals that end by then are not replayed,
    // nor the share of the interval under way that comes out before `at`
    // (trace_release.hpp); with zero pages, those pages hold data at the
    // start. Before the simulation; past the recording's end an error.
    Status start_at(std::chrono::nanoseconds at);

    uint64_t loops() const { return loops_; }                // times the replay started again
    uint64_t dropped_intervals() const { return dropped_; }  // replayed as the one before
    uint64_t replayed_intervals() const { return replayed_; }

protected:
    Status add_regions(Tracker& tracker) override;

private:
    TraceGuest(IntervalSource& source, TraceReplay replay);
    Status read_next();  // into current_, rewinding at the end
    // Checks current_'s pages against the regions (error_ if not) and starts releasing them.
    void enter_interval();
    // The pages of current_ (or of the one before it, if it was dropped).
    const std::vector<recording::PageRun>& current_pages() const;
    // The replay's speed through current_, as a share of the recorded speed.
    double speed(int held_pct) const;
    // Under a dirty limit (trace_vcpus.cpp): each vCPU's share of current_'s
    // pages, its speed, and what each wrote while `fraction` of current_ was
    // replayed at `speed`.
    std::vector<double> vcpu_weights() const;
    std::vector<double> vcpu_paces(int held_pct) const;  // w_v f_v
    double limited_speed(int held_pct) const;
    void note_vcpu_writes(double fraction, int held_pct, double speed);
    // Marks the pages of current_ whose moments fall before `upto` as written.
    void release_until(double upto);
    // Finishes current_ and reads the next one (error_ if that fails).
    void finish_interval();
    // run() through the recording for `wall_ns`, the vCPUs' paces held.
    void replay(double wall_ns, int held_pct);
    // run() with ring-full sleeps: in steps that end where a vCPU wakes,
    // each followed by the rings' count (trace_ring_full.cpp).
    void replay_with_ring_full(double wall_ns, int held_pct);

    // What the sender takes at once: precopy/sender.cpp's take_chunk_pages
    // of 4 KiB pages, 16 MiB, in the recording's pages (at least one), so a
    // step of a recording with huge pages ends near where it should.
    static constexpr uint64_t chunk_bytes = 4096 * 4096;
    uint64_t chunk_pages_ = 4096;

    IntervalSource& source_;
    TraceReplay replay_;
    uint64_t page_size_ = 4096;
    uint64_t memory_pages_ = 0;
    uint64_t loop_ns_ = 0;  // recorded time in this pass through the recording
    std::optional<recording::Interval> current_;
    double released_ = 0;  // the share of current_ replayed, 0..1
    std::unique_ptr<ReleaseOrder> release_;
    std::vector<recording::PageRun> last_known_;
    std::unique_ptr<PendingPages> pending_;  // written since the last harvest
    std::unique_ptr<TraceZeroPages> zero_;   // round 1's zero pages; null without them or after round 1
    std::unique_ptr<HotPageDeferral> deferral_;
    std::unique_ptr<RingFullSleeps> ring_full_;  // with sleep_at_ring_full()
    double started_s_ = 0;                       // start_at(): how long the vCPUs ran before the replay
    std::optional<Error> error_;
    std::string vcpu_view_;  // how the dirty limit sees the vCPUs, for describe()
    uint64_t loops_ = 0, dropped_ = 0, replayed_ = 0;

    Tracker* tracker_ = nullptr;
    bool every_page_ = false;
    RegionId cursor_region_ = 0;
    uint64_t cursor_page_ = 0;  // the next chunk's first page
    double dirty_ahead_ = 0;    // a sweep of the dirty pages: those at or past the cursor
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
