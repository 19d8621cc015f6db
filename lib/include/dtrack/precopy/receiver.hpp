// Receiver: the destination side of a precopy migration.
//
// Reads the stream (wire_format.hpp) into guest memory and trusts none of it:
// the header must describe exactly its own memory; every record's checksums,
// type, region, page indices, lengths and compressed sizes are checked before
// a byte is written, so a corrupt or hostile stream never writes outside
// guest memory nor makes it allocate more than one batch. When the sender
// says no page follows (pages done) it computes its own digest, while the
// sender computes its; at END it compares them and answers accept or reject.
//
// On any problem run() returns an Error that says what and where ("record
// 412 at byte 1843200: page batch record: payload checksum mismatch (stream
// corrupt)"), and sends the same text to the sender as a rejection when the
// connection still allows (over an unauthenticated connection, a layout
// mismatch is reported without this side's layout). A sender that is silent
// (io_timeout), too slow (min_bytes_per_s) or past max_time is cut off. The guest memory then holds a partial copy: do
// not run it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/precopy/tls.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

struct ReceiverOptions {
    // The longest silence accepted from the sender (and the bound on the TLS
    // handshake). Keep it above the sender's longest pause between records:
    // a harvest, and at switchover the digest of the whole memory (it grows
    // with the guest's size; see README.md for what it took on the project's
    // machines).
    std::chrono::milliseconds io_timeout{20000};
    // Bound on the whole run; 0 = none.
    std::chrono::nanoseconds max_time{0};
    // The slowest sender accepted: each rate_window must bring at least
    // min_bytes_per_s for its length, else the run ends. 0 = no floor. Keep
    // it under the sender's bandwidth cap.
    uint64_t min_bytes_per_s = 64 * 1024;
    std::chrono::milliseconds rate_window{10000};
    // TLS 1.3 (a TlsRole::server credential): nothing is read or sent before
    // the sender passed the handshake.
    std::optional<TlsCredentials> tls;
};

struct ReceiveReport {
    uint64_t rounds = 0;  // round markers seen
    uint64_t pages = 0;   // page entries written, zero pages included
    uint64_t zero_pages = 0;
    uint64_t delta_pages = 0;  // applied to this side's copy of the page
    uint64_t records = 0;
    uint64_t bytes = 0;         // stream bytes read
    uint64_t digest = 0;        // of the memory after the last page
    bool digest_match = false;  // always true in a returned report: a mismatch is an Error
};

class Receiver {
public:
    Receiver(std::vector<GuestMemory> memory, ReceiverOptions options = {});

    // Receives one migration over a connected stream socket (the caller keeps
    // and closes it).
    Result<ReceiveReport> run(int connected_socket_fd);

private:
    std::vector<GuestMemory> memory_;
    ReceiverOptions options_;
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
