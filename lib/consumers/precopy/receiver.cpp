// The precopy receiver: validate every byte, then write pages.
#include "dtrack/precopy/receiver.hpp"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "consumers/precopy/page_delta.hpp"
#include "consumers/precopy/socket.hpp"
#include "dtrack/precopy/wire_format.hpp"

namespace dtrack::precopy {

namespace {

using steady = std::chrono::steady_clock;

// How long a rejection may take to deliver before the receiver gives up on it.
constexpr std::chrono::milliseconds rejection_grace{2000};

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
    return buf;
}

// One run of Receiver::run().
class Reception {
public:
    Reception(const std::vector<GuestMemory>& memory, const ReceiverOptions& options, int fd)
        : memory_(memory),
          options_(options),
          fd_(fd),
          start_(steady::now()),
          deadline_(options.max_time.count() > 0 ? start_ + options.max_time : no_deadline),
          window_start_(start_) {}

    Result<ReceiveReport> run() {
        // The caller's own mistakes, refused before a byte is read or sent.
        if (Status s = check_guest_memory(memory_); !s) return s.error();
        if (Status s = check_connected_stream(fd_); !s) return s.error();
        // With credentials nothing is read or sent before the handshake: a
        // peer that fails it learns nothing, not even the memory layout.
        const Deadline handshake_by = std::min(deadline_, Deadline(steady::now() + options_.io_timeout));
        auto stream = open_stream(fd_, options_.tls, "", handshake_by);
        if (!stream) {
            // A plain sender gets the reason in its own protocol: it can say it.
            if (stream.error().errno_value == EPROTO) {
                StreamSocket plain(fd_);
                send_reject(plain, stream.error().message());
            }
            return stream.error();
        }
        stream_ = std::move(stream.value());
        Result<ReceiveReport> result = receive();
        if (!result) {
            send_reject(*stream_, peer_reason_.empty() ? result.error().message() : peer_reason_);
        }
        return result;
    }

private:
    Result<ReceiveReport> receive() {
        if (Status s = read_header(); !s) return s.error();
        for (;;) {
            Result<bool> end = read_record();
            if (!end) return end.error();
            if (*end) break;
        }
        report_.bytes = offset_;
        report_.digest_match = true;
        const IoStatus io =
            stream_->write_all(wire::encode_accept({report_.digest, report_.pages}), no_deadline, options_.io_timeout);
        if (!io.ok())
            return Error{io.err,
                         "the copy is complete and verified, but sending the acceptance failed: " + io.describe(),
                         "do not run this copy: the sender did not hear that it may stop"};
        return report_;
    }

    // --- the stream header ---------------------------------------------------------

    Status read_header() {
        where_ = "stream header at byte 0";
        uint8_t prelude_bytes[wire::prelude_bytes];
        if (Status s = read(prelude_bytes, "stream header"); !s) return s;
        // The decoders' messages say "at byte N: ..." themselves.
        auto prelude = wire::decode_prelude(prelude_bytes);
        if (!prelude && prelude_bytes[0] == 0x16 && prelude_bytes[1] == 0x03)  // a TLS handshake record
            return Error{EPROTO, "the sender started a TLS handshake, and this receiver has no TLS credentials",
                         "give the receiver the same kind of credentials (dtvm: --tls-creds DIR or --tls-psk FILE)"};
        if (!prelude) return Error{0, "stream header " + prelude.error().what, ""};
        where_ = "stream header at byte " + std::to_string(wire::prelude_bytes);
        std::vector<uint8_t> table(prelude->table_bytes());  // at most max_regions entries
        if (Status s = read(table, "region table"); !s) return s;
        auto header = wire::decode_region_table(*prelude, table);
        if (!header) return Error{0, "stream header " + header.error().what, ""};
        const wire::StreamHeader mine = wire::header_for(memory_);
        if (header->page_size != mine.page_size) where_ = "stream header at byte 12";
        if (header->page_size != mine.page_size || header->regions != mine.regions) {
            // The layout describes this VM: only an authenticated peer hears it.
            if (!stream_->authenticated())
                peer_reason_ = where_ +
                               ": the sender's memory layout differs from this receiver's (not described "
                               "over an unauthenticated connection; the receiver's log has both)";
            return fail("the sender's memory layout differs from this receiver's: sender has " + describe(*header) +
                            "; receiver has " + describe(mine),
                        "give the receiving VMM the same memory size and slots as the sender");
        }
        page_size_ = header->page_size;
        for (const GuestMemory& m : memory_) regions_[m.region] = &m;
        return Ok{};
    }

    // --- records -----------------------------------------------------------------

    // One record; true when it was END (and the digest matched).
    Result<bool> read_record() {
        ++record_number_;
        const uint64_t at = offset_;
        where_ = "record " + std::to_string(record_number_) + " at byte " + std::to_string(at);
        uint8_t head[wire::record_header_bytes];
        if (Status s = read(head, "record header", /*may_end_here=*/true); !s) return s.error();
        auto header = wire::decode_record_header(head, page_size_);
        if (!header) return fail(header.error().what).error();
        payload_.resize(header->payload_length);  // bounded by decode_record_header
        if (Status s = read(payload_, "record payload"); !s) return s.error();
        if (Status s = wire::check_payload_crc(*header, payload_); !s) return fail(s.error().what).error();
        ++report_.records;

        switch (header->type) {
            case wire::RecordType::round_marker: {
                if (pages_done_) return fail("round marker after the pages-done record").error();
                const uint64_t round = wire::decode_round_marker(payload_);
                if (round != report_.rounds + 1)
                    return fail("round marker " + std::to_string(round) + " after round " +
                                std::to_string(report_.rounds))
                        .error();
                report_.rounds = round;
                return false;
            }
            case wire::RecordType::page_batch:
                if (Status s = write_batch(*header); !s) return s.error();
                return false;
            case wire::RecordType::pages_done:
                if (Status s = hash_copy(); !s) return s.error();
                return false;
            case wire::RecordType::end:
                if (Status s = check_end(); !s) return s.error();
                return true;
            case wire::RecordType::accept:
            case wire::RecordType::reject: break;
        }
        return fail(std::string("unexpected ") + wire::to_string(header->type) + " record from the sender").error();
    }

    Status write_batch(const wire::RecordHeader& header) {
        if (report_.rounds == 0) return fail("page batch before the first round marker");
        if (pages_done_) return fail("page batch after the pages-done record");
        const auto region = regions_.find(header.region);
        if (region == regions_.end())
            return fail("page batch for region " + std::to_string(header.region) + ", which the header did not list");
        const GuestMemory& m = *region->second;
        auto raw = wire::inflate_page_batch(header, payload_, page_size_, inflated_);
        if (!raw) return fail(raw.error().what);
        if (Status s = wire::decode_page_batch(*raw, header.count, page_size_, m.pages, entries_); !s)
            return fail(s.error().what);
        // Every entry is valid: only now touch guest memory.
        for (const wire::PageEntry& e : entries_) {
            switch (e.kind) {
                case wire::EntryKind::whole: std::memcpy(m.page(e.page), e.contents, page_size_); break;
                case wire::EntryKind::zero:
                    std::memset(m.page(e.page), 0, page_size_);
                    ++report_.zero_pages;
                    break;
                case wire::EntryKind::delta:
                    // Against this side's copy: what the sender last sent of the page.
                    if (Status s = delta::apply(e.delta, {m.page(e.page), page_size_}); !s) return fail(s.error().what);
                    ++report_.delta_pages;
                    break;
            }
        }
        report_.pages += entries_.size();
        return Ok{};
    }

    // No page follows: hash the copy now, while the sender hashes its own.
    Status hash_copy() {
        if (report_.rounds == 0) return fail("pages-done record before any round");
        if (pages_done_) return fail("a second pages-done record");
        pages_done_ = true;
        report_.digest = memory_digest(memory_);
        return Ok{};
    }

    Status check_end() {
        const wire::EndRecord end = wire::decode_end(payload_);
        if (report_.rounds == 0) return fail("END record before any round");
        if (!pages_done_) return fail("END record before the pages-done record");
        if (end.rounds != report_.rounds)
            return fail("END record says " + std::to_string(end.rounds) + " rounds, " + std::to_string(report_.rounds) +
                        " arrived");
        if (end.pages != report_.pages)
            return fail("END record says " + std::to_string(end.pages) + " pages were sent, " +
                        std::to_string(report_.pages) + " arrived");
        if (report_.digest != end.digest)
            return fail("digest mismatch: the sender's memory is " + hex(end.digest) + ", this copy " +
                        hex(report_.digest) + " (pages were lost or changed on the way)");
        return Ok{};
    }

    // --- reading ----------------------------------------------------------------------

    // `may_end_here`: a stream that ends before the first byte ends between
    // records (the sender stopped), not inside one (truncated).
    Status read(std::span<uint8_t> out, const char* what, bool may_end_here = false) {
        size_t got = 0;
        for (;;) {
            if (Status s = check_pace(what); !s) return s;
            const IoStatus io =
                stream_->read_exact(out.subspan(got), std::min(deadline_, pace_check_at()), options_.io_timeout);
            got += io.done;
            offset_ += io.done;
            if (io.ok()) return Ok{};
            switch (io.result) {
                case IoResult::closed:
                    if (got == 0 && may_end_here)
                        return fail("the stream ended before the END record (the sender stopped)");
                    return fail("the stream ended after " + std::to_string(got) + " of the " +
                                std::to_string(out.size()) + " bytes of the " + what + " (truncated)");
                case IoResult::timed_out: {
                    const auto now = steady::now();
                    if (now >= deadline_)
                        return fail("max_time of " + std::to_string(ms(options_.max_time)) +
                                    " ms reached while reading the " + what);
                    if (now >= pace_check_at()) continue;  // check_pace() decides
                    return fail("no data from the sender for " + std::to_string(options_.io_timeout.count()) +
                                " ms (io_timeout) while reading the " + what);
                }
                default: return fail(std::string("reading the ") + what + " failed: " + io.describe());
            }
        }
    }

    // The floor under the sender's pace: each rate_window must bring at least
    // min_bytes_per_s for its length, so a peer that drips bytes cannot hold
    // this receiver (and its memory) for ever.
    Deadline pace_check_at() const {
        return options_.min_bytes_per_s ? window_start_ + options_.rate_window : no_deadline;
    }
    Status check_pace(const char* what) {
        const auto now = steady::now();
        if (now < pace_check_at()) return Ok{};
        const uint64_t moved = offset_ - window_offset_;
        const double seconds = std::chrono::duration<double>(now - window_start_).count();
        if (double(moved) < double(options_.min_bytes_per_s) * seconds)
            return fail("the sender sent " + std::to_string(moved) + " bytes in " +
                            std::to_string(ms(now - window_start_)) + " ms, under the floor of " +
                            std::to_string(options_.min_bytes_per_s) +
                            " bytes/s (min_bytes_per_s), while reading the " + what,
                        "a slow link or a low sender bandwidth cap needs a lower min_bytes_per_s");
        window_start_ = now;
        window_offset_ = offset_;
        return Ok{};
    }

    static long long ms(std::chrono::nanoseconds d) {
        return (long long)std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    }

    // --- errors ---------------------------------------------------------------------

    // An error that says where in the stream it happened.
    Status fail(const std::string& what, std::string fix = {}) const {
        return Error{0, where_ + ": " + what, std::move(fix)};
    }

    // Tells the sender why, when the connection still allows, then closes
    // gracefully so the message is not lost to a reset.
    void send_reject(Stream& stream, const std::string& reason) const {
        const Deadline grace =
            steady::now() + std::min<std::chrono::milliseconds>(rejection_grace, options_.io_timeout);
        stream.write_all(wire::encode_reject(reason), grace, options_.io_timeout);
        stream.linger(grace);
    }

    const std::vector<GuestMemory>& memory_;
    const ReceiverOptions& options_;
    const int fd_;
    std::unique_ptr<Stream> stream_;  // plain or TLS, after the handshake
    const steady::time_point start_;
    const Deadline deadline_;          // max_time
    steady::time_point window_start_;  // the pace floor's current window
    uint64_t window_offset_ = 0;
    std::string peer_reason_;  // what the sender is told, when it must hear less than the log

    uint64_t page_size_ = 0;
    std::map<uint32_t, const GuestMemory*> regions_;  // by region id
    uint64_t offset_ = 0;                             // stream bytes read so far
    uint64_t record_number_ = 0;
    std::string where_ = "stream header";
    std::vector<uint8_t> payload_, inflated_;  // reused: at most one batch each
    std::vector<wire::PageEntry> entries_;
    bool pages_done_ = false;  // the copy is final and hashed in report_.digest
    ReceiveReport report_;
};

}  // namespace

Receiver::Receiver(std::vector<GuestMemory> memory, ReceiverOptions options)
    : memory_(std::move(memory)), options_(options) {}

Result<ReceiveReport> Receiver::run(int connected_socket_fd) {
    return Reception(memory_, options_, connected_socket_fd).run();
}

}  // namespace dtrack::precopy
