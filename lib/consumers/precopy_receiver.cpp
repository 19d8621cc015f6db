// The precopy receiver: validate every byte, then write pages.
#include "dtrack/precopy/receiver.hpp"

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

#include "consumers/precopy_socket.hpp"
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
        : memory_(memory), options_(options), socket_(fd) {}

    Result<ReceiveReport> run() {
        Result<ReceiveReport> result = receive();
        if (!result) reject(result.error().message());
        return result;
    }

private:
    Result<ReceiveReport> receive() {
        if (Status s = check_own_memory(); !s) return s.error();
        if (Status s = read_header(); !s) return s.error();
        for (;;) {
            Result<bool> end = read_record();
            if (!end) return end.error();
            if (*end) break;
        }
        report_.bytes = offset_;
        report_.digest_match = true;
        const IoStatus io =
            socket_.write_all(wire::encode_accept({report_.digest, report_.pages}), no_deadline, options_.io_timeout);
        if (!io.ok())
            return Error{io.err, "the copy is complete and verified, but sending the acceptance failed: " + io.describe(),
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
        if (!prelude) return Error{0, "stream header " + prelude.error().what, ""};
        where_ = "stream header at byte " + std::to_string(wire::prelude_bytes);
        std::vector<uint8_t> table(prelude->table_bytes());  // at most max_regions entries
        if (Status s = read(table, "region table"); !s) return s;
        auto header = wire::decode_region_table(*prelude, table);
        if (!header) return Error{0, "stream header " + header.error().what, ""};
        const wire::StreamHeader mine = wire::header_for(memory_);
        if (header->page_size != mine.page_size) where_ = "stream header at byte 12";
        if (header->page_size != mine.page_size || header->regions != mine.regions)
            return fail("the sender's memory layout differs from this receiver's: sender has " + describe(*header) +
                            "; receiver has " + describe(mine),
                        "give the receiving VMM the same memory size and slots as the sender");
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
            case wire::RecordType::end:
                if (Status s = check_end(); !s) return s.error();
                return true;
            case wire::RecordType::accept:
            case wire::RecordType::reject:
                break;
        }
        return fail(std::string("unexpected ") + wire::to_string(header->type) + " record from the sender").error();
    }

    Status write_batch(const wire::RecordHeader& header) {
        if (report_.rounds == 0) return fail("page batch before the first round marker");
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
            if (e.contents) {
                std::memcpy(m.page(e.page), e.contents, page_size_);
            } else {
                std::memset(m.page(e.page), 0, page_size_);
                ++report_.zero_pages;
            }
        }
        report_.pages += entries_.size();
        return Ok{};
    }

    Status check_end() {
        const wire::EndRecord end = wire::decode_end(payload_);
        if (report_.rounds == 0) return fail("END record before any round");
        if (end.rounds != report_.rounds)
            return fail("END record says " + std::to_string(end.rounds) + " rounds, " +
                        std::to_string(report_.rounds) + " arrived");
        if (end.pages != report_.pages)
            return fail("END record says " + std::to_string(end.pages) + " pages were sent, " +
                        std::to_string(report_.pages) + " arrived");
        report_.digest = memory_digest(memory_);
        if (report_.digest != end.digest)
            return fail("digest mismatch: the sender's memory is " + hex(end.digest) + ", this copy " +
                        hex(report_.digest) + " (pages were lost or changed on the way)");
        return Ok{};
    }

    // --- reading ----------------------------------------------------------------------

    // `may_end_here`: a stream that ends before the first byte ends between
    // records (the sender stopped), not inside one (truncated).
    Status read(std::span<uint8_t> out, const char* what, bool may_end_here = false) {
        const IoStatus io = socket_.read_exact(out, no_deadline, options_.io_timeout);
        offset_ += io.done;
        if (io.ok()) return Ok{};
        switch (io.result) {
            case IoResult::closed:
                if (io.done == 0 && may_end_here)
                    return fail("the stream ended before the END record (the sender stopped)");
                return fail("the stream ended after " + std::to_string(io.done) + " of the " +
                            std::to_string(out.size()) + " bytes of the " + what + " (truncated)");
            case IoResult::timed_out:
                return fail("no data from the sender for " + std::to_string(options_.io_timeout.count()) +
                            " ms (io_timeout) while reading the " + what);
            default:
                return fail(std::string("reading the ") + what + " failed: " + io.describe());
        }
    }

    // --- errors ---------------------------------------------------------------------

    // An error that says where in the stream it happened.
    Status fail(const std::string& what, std::string fix = {}) const {
        return Error{0, where_ + ": " + what, std::move(fix)};
    }

    // Tells the sender why, when the connection still allows, then closes
    // gracefully so the message is not lost to a reset.
    void reject(const std::string& reason) {
        const Deadline grace = steady::now() + std::min<std::chrono::milliseconds>(rejection_grace, options_.io_timeout);
        socket_.write_all(wire::encode_reject(reason), grace, options_.io_timeout);
        socket_.linger(grace);
    }

    Status check_own_memory() const {
        auto bad = [](const std::string& what) {
            return Error{0, "receiver memory: " + what, "describe this VM's memory the way the sender does"};
        };
        if (memory_.empty()) return bad("no regions");
        const uint64_t page_size = memory_.front().page_size;
        if (page_size < wire::min_page_size || page_size > wire::max_page_size || !std::has_single_bit(page_size))
            return bad("page size " + std::to_string(page_size) + " is not a power of two from " +
                       std::to_string(wire::min_page_size) + " to " + std::to_string(wire::max_page_size));
        std::map<RegionId, bool> seen;
        for (const GuestMemory& m : memory_) {
            const std::string name = "region " + std::to_string(m.region);
            if (m.page_size != page_size) return bad(name + " has another page size than the first region");
            if (!seen.emplace(m.region, true).second) return bad(name + " is listed twice");
            if (m.pages >= wire::max_region_pages) return bad(name + " is too large for the wire format");
            if (m.pages && !m.host) return bad(name + " has no host address");
        }
        if (memory_.size() > wire::max_regions) return bad("more than " + std::to_string(wire::max_regions) + " regions");
        return Ok{};
    }

    const std::vector<GuestMemory>& memory_;
    const ReceiverOptions& options_;
    StreamSocket socket_;

    uint64_t page_size_ = 0;
    std::map<uint32_t, const GuestMemory*> regions_;  // by region id
    uint64_t offset_ = 0;                             // stream bytes read so far
    uint64_t record_number_ = 0;
    std::string where_ = "stream header";
    std::vector<uint8_t> payload_, inflated_;  // reused: at most one batch each
    std::vector<wire::PageEntry> entries_;
    ReceiveReport report_;
};

}  // namespace

Receiver::Receiver(std::vector<GuestMemory> memory, ReceiverOptions options)
    : memory_(std::move(memory)), options_(options) {}

Result<ReceiveReport> Receiver::run(int connected_socket_fd) {
    return Reception(memory_, options_, connected_socket_fd).run();
}

}  // namespace dtrack::precopy
