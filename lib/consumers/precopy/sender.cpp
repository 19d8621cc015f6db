// The precopy sender: rounds of dirty pages until the rest fits in the
// downtime limit, then a paused final round and the receiver's verdict.
#include "dtrack/precopy/sender.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <optional>
#include <thread>

#include "consumers/precopy/batch_compression.hpp"
#include "consumers/precopy/digest_pace.hpp"
#include "consumers/precopy/round_rates.hpp"
#include "consumers/precopy/sent_page_cache.hpp"
#include "consumers/precopy/socket.hpp"
#include "consumers/precopy/stream.hpp"
#include "consumers/precopy/token_bucket.hpp"
#include "dtrack/precopy/wire_format.hpp"

namespace dtrack::precopy {

const char* to_string(OutcomeStatus status) {
    switch (status) {
        case OutcomeStatus::completed: return "completed";
        case OutcomeStatus::timed_out: return "timed_out";
        case OutcomeStatus::receiver_failed: return "receiver_failed";
        case OutcomeStatus::rejected_by_receiver: return "rejected_by_receiver";
        case OutcomeStatus::error: return "error";
    }
    return "?";
}

namespace {

using steady = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// Pages taken from the bitmap at once (16 MiB of 4 KiB pages): a multiple of
// 64, as KVM_CLEAR_DIRTY_LOG wants, and small enough that pages are read soon
// after they are re-protected (a write in between only sends them twice).
constexpr uint64_t take_chunk_pages = 4096;
// How long to wait for a rejection the receiver may have sent before it closed.
constexpr nanoseconds rejection_grace = milliseconds(2000);

// Whether page contents may take fewer wire bytes than pages (compression,
// deltas): then the memory rate is not bounded by the bandwidth cap.
bool shrinks_pages(const SenderOptions& o) { return o.compression != Compression::none || o.xbzrle_cache_bytes > 0; }

std::string ms_text(nanoseconds d) { return std::to_string(duration_cast<milliseconds>(d).count()) + " ms"; }

// Why a run ends. Steps return std::nullopt to say "carry on".
struct Stop {
    OutcomeStatus status;
    std::string message;
};
using Step = std::optional<Stop>;

// The reply records a receiver sends.
struct Reply {
    wire::RecordType type = wire::RecordType::reject;
    std::string reason;         // reject
    wire::AcceptRecord accept;  // accept
};

// One run of Sender::run(): the state that lives only while migrating.
class Migration {
public:
    Migration(Tracker& tracker, Rounds& rounds, const std::vector<GuestMemory>& memory, VmControl& vm,
              const SenderOptions& options, int fd)
        : tracker_(tracker),
          rounds_(rounds),
          memory_(memory),
          vm_(vm),
          options_(options),
          fd_(fd),
          start_(steady::now()),
          deadline_(options.max_time.count() > 0 ? start_ + options.max_time : no_deadline),
          rates_(0, options.bandwidth, shrinks_pages(options)) {
        if (options_.bandwidth) bucket_.emplace(options_.bandwidth);
    }

    Outcome run() {
        Stop stop{OutcomeStatus::error, ""};
        if (Step bad = check_layout()) {
            stop = *bad;
        } else if (Step bad_level = check_compression()) {
            stop = *bad_level;
        } else if (Step refused = open_stream()) {
            stop = *refused;  // nothing was sent and the guest never paused
        } else {
            page_size_ = memory_.front().page_size;
            rates_ = RoundRates(page_size_, options_.bandwidth, shrinks_pages(options_));
            batch_.emplace(page_size_, options_.batch_pages);
            make_encoders();
            rounds_.start_migration();
            stop = migrate();
            undo_pause();  // a no-op after success, which leaves the vCPUs paused
            outcome_.rounds = rounds_.round();
            fill_syncs();
            rounds_.finish_migration();
        }
        if (stop.status != OutcomeStatus::completed) {  // the receiver sees the end at once
            if (stream_) stream_->shutdown_write();
            else ::shutdown(fd_, SHUT_WR);
        }
        outcome_.status = stop.status;
        outcome_.message = stop.message;
        outcome_.total_time = steady::now() - start_;
        outcome_.estimated_downtime = estimate_;
        return outcome_;
    }

private:
    // --- the algorithm -------------------------------------------------------------

    Stop migrate() {
        doing_ = "sending the stream header";
        if (Step s = send(wire::encode_header(header()))) return *s;

        // Start clean: round 1 copies everything, so only pages dirtied after
        // this point need another pass.
        if (Step s = sync()) return *s;
        for (const GuestMemory& m : memory_) {
            auto taken = tracker_.take(m.region, 0, m.pages, [](uint64_t, uint64_t) {});
            if (!taken) return take_failed(m, taken.error());
        }
        if (Step s = send_round(/*every_page=*/true)) return *s;
        // Both sides hash all memory before the acknowledgement. They
        // overlap on two hosts; on one (a test, a local migration) they take
        // turns on the same cores: count both, erring long. Timed from
        // round 1's end on, which read every page: before it, the sample's
        // first read may fault its pages in (a guest's untouched memory),
        // which the digest at switchover does not pay (digest_pace.hpp).
        DigestPace digest;

        for (uint64_t piece = 0;; ++piece) {
            if (steady::now() >= deadline_) return max_time_reached();
            digest.add(estimated_digest_time(memory_, piece));
            const auto sync_started = steady::now();
            if (Step s = sync()) return *s;
            // The final sync runs with the guest paused: count one as long as this one.
            rates_.set_switchover_cost(2 * digest.estimate() +
                                       duration_cast<nanoseconds>(steady::now() - sync_started));
            uint64_t remaining = 0;
            for (const GuestMemory& m : memory_) remaining += tracker_.bitmap(m.region).count();
            estimate_ = rates_.estimated_downtime(remaining);
            if (options_.progress)
                options_.progress(
                    Progress{rounds_.round(), remaining, rates_.bandwidth(), estimate_, steady::now() - start_});
            if (RoundRates::fits(remaining, estimate_, options_.downtime_limit)) break;
            plan_deferral();
            if (Step s = send_round(/*every_page=*/false)) return *s;
        }
        return switchover();
    }

    Stop switchover() {
        vm_.pause_vcpus();
        paused_at_ = steady::now();
        // Nothing changes from here on: one last harvest and pass send the
        // rest, the deferred pages included.
        if (deferral_) deferral_->release_all();
        Outcome::DowntimeParts& parts = outcome_.downtime_parts;
        if (Step s = sync()) return *s;
        const auto synced = steady::now();
        parts.sync = synced - *paused_at_;
        const uint64_t pages_before = outcome_.pages_sent;
        if (Step s = send_round(/*every_page=*/false)) return *s;
        const auto sent = steady::now();
        parts.final_round = sent - synced;
        parts.final_round_pages = outcome_.pages_sent - pages_before;

        // The receiver hashes its copy as soon as it hears that no page
        // follows, while this side hashes its own: the two hashes overlap.
        doing_ = "sending the pages-done record";
        if (Step s = send(wire::encode_pages_done())) return *s;
        const auto digest_started = steady::now();
        const uint64_t digest = memory_digest(memory_);
        const auto digest_time = duration_cast<milliseconds>(steady::now() - digest_started);
        doing_ = "sending the END record";
        if (Step s = send(wire::encode_end({digest, rounds_.round(), outcome_.pages_sent}))) return *s;
        const auto ended = steady::now();
        parts.digest = ended - sent;

        // The receiver may still be hashing the same memory: allow for that
        // (twice our time, for a slower machine) on top of io_timeout.
        doing_ = "waiting for the receiver's acknowledgement";
        Reply reply;
        if (Step s = read_reply(deadline_, reply, options_.io_timeout + 2 * digest_time)) return *s;
        if (reply.type == wire::RecordType::reject)
            return Stop{OutcomeStatus::rejected_by_receiver, "the receiver rejected the migration: " + reply.reason};
        if (reply.accept.digest != digest || reply.accept.pages != outcome_.pages_sent)
            return Stop{OutcomeStatus::receiver_failed, "the receiver acknowledged a different copy (" +
                                                            std::to_string(reply.accept.pages) + " pages, digest " +
                                                            std::to_string(reply.accept.digest) + ")"};
        const auto acknowledged = steady::now();
        outcome_.downtime = acknowledged - *paused_at_;
        parts.acknowledgement = acknowledged - ended;
        paused_at_.reset();  // success: the vCPUs stay paused, the guest lives on the receiver
        return Stop{OutcomeStatus::completed, ""};
    }

    // One pass: every page (round 1) or the pages dirty now.
    Step send_round(bool every_page) {
        rounds_.begin_round();
        const Sent before{outcome_.bytes_on_wire, outcome_.pages_sent, outcome_.zero_pages, steady::now() - start_};
        doing_ = "sending round " + std::to_string(rounds_.round());
        Step step = send(wire::encode_round_marker(rounds_.round()));
        for (const GuestMemory& m : memory_) {
            if (step) break;
            step = every_page ? send_every_page(m) : send_dirty_pages(m);
        }
        rounds_.end_round();
        const Sent sent{outcome_.bytes_on_wire - before.wire_bytes, outcome_.pages_sent - before.pages,
                        outcome_.zero_pages - before.zero_pages, steady::now() - start_ - before.time};
        rates_.round_done(sent);
        if (every_page) outcome_.first_round_time = sent.time;
        return step;
    }

    Step send_every_page(const GuestMemory& m) {
        batch_->start(m.region);
        for (uint64_t page = 0; page < m.pages; ++page)
            if (Step s = add_page(m, page)) return s;
        return flush_batch();
    }

    Step send_dirty_pages(const GuestMemory& m) {
        batch_->start(m.region);
        for (uint64_t first = 0; first < m.pages; first += take_chunk_pages) {
            taken_.clear();
            // take() has the sources re-protect the pages first (invariant 2),
            // so a write after this point marks them dirty again.
            // Deferred pages are kept: dirty in the bitmap for a later round.
            const std::span<const uint64_t> keep = deferral_ ? deferral_->keep(m.region) : std::span<const uint64_t>();
            auto taken = tracker_.take_keeping(m.region, first, std::min(take_chunk_pages, m.pages - first), keep,
                                               [&](uint64_t word, uint64_t bits) {
                                                   for (; bits; bits &= bits - 1)
                                                       taken_.push_back(word * 64 + std::countr_zero(bits));
                                               });
            if (!taken) return take_failed(m, taken.error());
            for (uint64_t page : taken_)
                if (Step s = add_page(m, page)) return s;
        }
        return flush_batch();
    }

    Step add_page(const GuestMemory& m, uint64_t page) {
        if (!cache_) batch_->add(page, m.page(page));
        else add_page_with_cache(m, page);
        return batch_->full() ? flush_batch() : std::nullopt;
    }

    // Round 1 fills the cache; from round 2 a page it holds goes as a delta
    // against the copy sent last (when smaller), and every page sent is kept.
    void add_page_with_cache(const GuestMemory& m, uint64_t page) {
        const size_t region = static_cast<size_t>(&m - memory_.data());
        const SentPageCache::Slot slot = rounds_.round() > 1 ? cache_->find(region, page) : cache_->slot(region, page);
        const wire::EntryKind kind = batch_->add(page, m.page(page), slot.held, slot.keep);
        cache_->stored(slot, kind == wire::EntryKind::zero);
    }

    Step flush_batch() {
        if (batch_->count() == 0) return std::nullopt;
        if (steady::now() >= deadline_) return max_time_reached();
        outcome_.pages_sent += batch_->count();
        outcome_.zero_pages += batch_->zero_pages();
        outcome_.delta_pages += batch_->delta_pages();
        Step step = send(batch_->finish(compressor_.get()));
        batch_->start(batch_->region());
        return step;
    }

    // --- hot-page deferral -------------------------------------------------------------

    // Between a round sync and the round: which hot pages this round leaves
    // dirty, within what the final round can carry at the measured rate.
    void plan_deferral() {
        if (!options_.defer_hot) return;
        if (!deferral_) {
            std::vector<uint64_t> pages(tracker_.region_count(), 0);
            for (const GuestMemory& m : memory_) pages[m.region] = m.pages;
            deferral_.emplace(*options_.defer_hot, std::move(pages));
        }
        std::vector<const DirtyBitmap*> dirty(tracker_.region_count(), nullptr);
        for (const GuestMemory& m : memory_) dirty[m.region] = &tracker_.bitmap(m.region);
        const double capacity = final_round_capacity_pages(rates_.page_time_budget(options_.downtime_limit),
                                                           rates_.memory_rate(), page_size_);
        outcome_.deferred_pages += deferral_->plan(dirty, capacity).deferred;
    }

    // --- harvesting ------------------------------------------------------------------

    Step sync() {
        const SyncReport report = rounds_.sync(SyncKind::round);
        if (!report.ok())
            return Stop{OutcomeStatus::error,
                        "harvesting dirty pages failed, so pages could be missed: " + report.errors.front().message()};
        return std::nullopt;
    }

    Stop take_failed(const GuestMemory& m, const Error& e) {
        return Stop{OutcomeStatus::error,
                    "re-protecting region " + std::to_string(m.region) + " before reading it failed: " + e.message()};
    }

    // --- the wire ---------------------------------------------------------------------

    // With credentials: the TLS handshake, before a byte of the stream.
    Step open_stream() {
        const Deadline by = std::min(deadline_, Deadline(steady::now() + options_.io_timeout));
        if (Status s = check_connected_stream(fd_); !s) return Stop{OutcomeStatus::error, s.error().message()};
        auto stream = precopy::open_stream(fd_, options_.tls, options_.tls_peer_name, by);
        if (!stream) return Stop{OutcomeStatus::receiver_failed, stream.error().message()};
        stream_ = std::move(stream.value());
        return std::nullopt;
    }

    Step send(std::span<const uint8_t> bytes) {
        while (!bytes.empty()) {
            size_t piece = bytes.size();
            if (bucket_) {
                piece = std::min<size_t>(piece, bucket_->burst());
                if (Step s = sleep(bucket_->reserve(piece))) return s;
            }
            const IoStatus io =
                stream_->write_all(bytes.first(piece), deadline_, options_.io_timeout, /*stop_when_readable=*/true);
            outcome_.bytes_on_wire += io.done;
            rounds_.add_transferred(io.done);
            if (!io.ok()) return io_failure(io);
            bytes = bytes.subspan(piece);
        }
        return std::nullopt;
    }

    // The bandwidth cap's wait, cut short by max_time.
    Step sleep(nanoseconds d) {
        if (d.count() <= 0) return std::nullopt;
        if (deadline_ != no_deadline && steady::now() + d >= deadline_) {
            std::this_thread::sleep_until(deadline_);
            return max_time_reached();
        }
        std::this_thread::sleep_for(d);
        return std::nullopt;
    }

    Stop io_failure(const IoStatus& io) {
        switch (io.result) {
            case IoResult::timed_out: return timeout();
            case IoResult::peer_readable:
            case IoResult::closed: {
                // A receiver that gives up says why first: read its reason.
                Reply reply;
                const Step unreadable = read_reply(steady::now() + rejection_grace, reply);
                if (!unreadable && reply.type == wire::RecordType::reject)
                    return Stop{OutcomeStatus::rejected_by_receiver,
                                "the receiver rejected the stream while " + doing_ + ": " + reply.reason};
                if (io.result == IoResult::closed) return closed_by_receiver(io);
                if (unreadable) return *unreadable;
                return Stop{OutcomeStatus::receiver_failed,
                            "the receiver sent an accept record before the END record, while " + doing_};
            }
            case IoResult::failed:
                if (io.err == EBADF || io.err == ENOTSOCK)
                    return Stop{OutcomeStatus::error, "not a connected socket: " + io.describe()};
                return Stop{OutcomeStatus::receiver_failed, io.describe() + " while " + doing_};
            case IoResult::ok: break;
        }
        return Stop{OutcomeStatus::error, "unexpected I/O state"};
    }

    Stop closed_by_receiver(const IoStatus& io) const {
        std::string why = "the receiver closed the connection while " + doing_;
        if (io.err) why += " (" + errno_text(io.err) + ")";
        return Stop{OutcomeStatus::receiver_failed, why};
    }

    // Reads one reply record (accept or reject), validated like any record.
    Step read_reply(Deadline deadline, Reply& reply, std::optional<milliseconds> stall = std::nullopt) {
        auto no_answer = [&](const IoStatus& io) {
            if (io.result == IoResult::timed_out) return timeout();
            if (io.result == IoResult::closed) return closed_by_receiver(io);
            return Stop{OutcomeStatus::receiver_failed,
                        "reading from the receiver failed while " + doing_ + ": " + io.describe()};
        };
        auto unreadable = [&](const std::string& why) {
            return Stop{OutcomeStatus::receiver_failed,
                        "unreadable reply from the receiver while " + doing_ + ": " + why};
        };
        uint8_t head[wire::record_header_bytes];
        const milliseconds silence = stall.value_or(options_.io_timeout);
        IoStatus io = stream_->read_exact(head, deadline, silence);
        if (!io.ok()) return no_answer(io);
        auto header = wire::decode_record_header(head, page_size_);
        if (!header) return unreadable(header.error().what);
        if (header->type != wire::RecordType::accept && header->type != wire::RecordType::reject)
            return unreadable(std::string("a ") + wire::to_string(header->type) + " record");
        std::vector<uint8_t> payload(header->payload_length);  // checked: at most max_reason_bytes
        io = stream_->read_exact(payload, deadline, silence);
        if (!io.ok()) return no_answer(io);
        if (Status s = wire::check_payload_crc(*header, payload); !s) return unreadable(s.error().what);
        reply.type = header->type;
        if (reply.type == wire::RecordType::reject) reply.reason = wire::decode_reject(payload);
        else reply.accept = wire::decode_accept(payload);
        return std::nullopt;
    }

    Stop timeout() const {
        if (steady::now() >= deadline_)
            return Stop{OutcomeStatus::timed_out,
                        "max_time of " + ms_text(options_.max_time) + " reached while " + doing_};
        return Stop{OutcomeStatus::timed_out, "the receiver was silent or stopped reading for " +
                                                  ms_text(options_.io_timeout) + " (io_timeout) while " + doing_};
    }
    Stop max_time_reached() const {
        return Stop{OutcomeStatus::timed_out, "max_time of " + ms_text(options_.max_time) + " reached after " +
                                                  std::to_string(rounds_.round()) + " rounds, while " + doing_};
    }

    // --- set-up and clean-up ------------------------------------------------------------

    // The shared checks (check_guest_memory), then each region against the tracker's.
    Step check_layout() const {
        if (Status s = check_guest_memory(memory_); !s) return Stop{OutcomeStatus::error, s.error().what};
        if (options_.defer_hot)
            if (Status s = check_hot_page_deferral(*options_.defer_hot); !s)
                return Stop{OutcomeStatus::error, s.error().message()};
        for (const GuestMemory& m : memory_) {
            const std::string name = "bad guest memory: region " + std::to_string(m.region);
            if (m.region >= tracker_.region_count())
                return Stop{OutcomeStatus::error, name + " is not a tracker region"};
            const Region& r = tracker_.region(m.region);
            if (r.page_size != m.page_size || r.page_count != m.pages)
                return Stop{OutcomeStatus::error, name + " has " + std::to_string(m.pages) + " pages of " +
                                                      std::to_string(m.page_size) + " bytes, the tracker " +
                                                      std::to_string(r.page_count) + " of " +
                                                      std::to_string(r.page_size)};
        }
        return std::nullopt;
    }

    Step check_compression() const {
        if (effective_level(options_.compression, options_.compression_level)) return std::nullopt;
        return Stop{OutcomeStatus::error, "compression level " +
                                              level_outside(options_.compression, options_.compression_level) +
                                              " (0 = its default)"};
    }

    void make_encoders() {
        compressor_ = make_batch_compressor(options_.compression,
                                            *effective_level(options_.compression, options_.compression_level));
        if (options_.xbzrle_cache_bytes == 0) return;
        std::vector<uint64_t> pages;
        for (const GuestMemory& m : memory_) pages.push_back(m.pages);
        cache_.emplace(options_.xbzrle_cache_bytes, page_size_, pages);
    }

    wire::StreamHeader header() const {
        wire::StreamHeader h{.page_size = page_size_, .regions = {}};
        for (const GuestMemory& m : memory_) h.regions.push_back(wire::RegionLayout{m.region, m.base, m.pages});
        return h;
    }

    // Whatever went wrong, a paused guest runs again on this side.
    void undo_pause() {
        if (!paused_at_) return;
        vm_.resume_vcpus();
        outcome_.downtime = steady::now() - *paused_at_;
        paused_at_.reset();
    }

    void fill_syncs() {
        outcome_.round_syncs = rounds_.syncs(SyncKind::round);
        outcome_.background_syncs = rounds_.syncs(SyncKind::background);
        if (!cache_) return;
        outcome_.cache_hits = cache_->counts().hits;
        outcome_.cache_misses = cache_->counts().misses;
        outcome_.cache_overflows = cache_->counts().overflows;
    }

    Tracker& tracker_;
    Rounds& rounds_;
    const std::vector<GuestMemory>& memory_;
    VmControl& vm_;
    const SenderOptions& options_;
    const int fd_;
    std::unique_ptr<Stream> stream_;  // plain or TLS, once open_stream() succeeded
    std::optional<TokenBucket> bucket_;

    const steady::time_point start_;
    const Deadline deadline_;
    std::optional<steady::time_point> paused_at_;  // set while this run holds the vCPUs paused

    uint64_t page_size_ = 0;
    std::optional<wire::PageBatchBuilder> batch_;  // made once the layout is checked
    std::unique_ptr<BatchCompressor> compressor_;  // nullptr: batches go raw
    std::optional<SentPageCache> cache_;           // with xbzrle_cache_bytes
    std::vector<uint64_t> taken_;
    std::optional<HotPageDeferral> deferral_;  // with options_.defer_hot, from the first plan on
    std::string doing_;                        // for messages: "sending round 3"

    RoundRates rates_;  // what the rounds sent, and the switchover decision
    nanoseconds estimate_{0};
    Outcome outcome_;
};

}  // namespace

Sender::Sender(Tracker& tracker, Rounds& rounds, std::vector<GuestMemory> memory, VmControl& vm, SenderOptions options)
    : tracker_(tracker), rounds_(rounds), memory_(std::move(memory)), vm_(vm), options_(std::move(options)) {}

Outcome Sender::run(int connected_socket_fd) {
    return Migration(tracker_, rounds_, memory_, vm_, options_, connected_socket_fd).run();
}

}  // namespace dtrack::precopy
