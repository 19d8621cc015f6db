// Sender: the source side of a precopy live migration over a connected socket.
//
//   1. Harvest and discard every dirty bit: later rounds carry only pages
//      dirtied after copying began.
//   2. Round 1 sends every page (all-zero pages as a flag, not contents).
//   3. Then, after each round sync: estimated downtime = remaining dirty bytes
//      / the rate at which the last round moved page contents (measured over
//      what was sent, so the link, the cap, compression and the sender's own
//      copying all count). Under the downtime limit: switch over; else send
//      another round of the pages dirtied since (take-and-clear, which
//      re-protects them before their contents are read).
//   4. Switchover: pause the vCPUs, sync, send everything left and a
//      pages-done record (the receiver starts hashing its copy), hash the
//      whole memory meanwhile, send the END record with that digest, and
//      wait for the receiver's acknowledgement (it checks the digest
//      against its own copy).
//
// On success the vCPUs stay paused: the guest now lives on the receiver. On
// any other outcome they run again and the VM is unharmed. run() never hangs:
// every socket operation has a deadline and max_time bounds the whole run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "dtrack/hot_page_deferral.hpp"
#include "dtrack/precopy/compression.hpp"
#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/precopy/tls.hpp"
#include "dtrack/rounds.hpp"
#include "dtrack/tracker.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

// Implemented by the VMM.
class VmControl {
public:
    virtual ~VmControl() = default;
    // Returns when no vCPU runs (stop them and kick them out of KVM_RUN), so
    // no page can change after it returns.
    virtual void pause_vcpus() = 0;
    virtual void resume_vcpus() = 0;
};

// Reported after every round sync, on the sender's thread.
struct Progress {
    uint64_t round = 0;            // rounds sent so far
    uint64_t remaining_pages = 0;  // dirty now, still to send
    double bandwidth = 0;          // wire bytes/s over the last round (at most the cap)
    std::chrono::nanoseconds estimated_downtime{0};
    std::chrono::nanoseconds elapsed{0};
};

struct SenderOptions {
    uint64_t bandwidth = 0;  // bytes/s cap on the wire; 0 = none
    std::chrono::milliseconds downtime_limit{300};
    // Bound on the whole run; 0 = none, and then a guest that dirties memory
    // faster than the link carries it keeps the migration going (until
    // auto-converge slows it down).
    std::chrono::nanoseconds max_time{0};
    // A send that makes no progress for this long, or an acknowledgement that
    // does not come (after twice the time our own digest took, for the
    // receiver's), ends the run (timed_out) even without max_time.
    std::chrono::milliseconds io_timeout{30000};
    // Page batches compressed with this method, when it saves bytes; the
    // level: 0 = the method's default (compression_levels() in compression.hpp).
    Compression compression = Compression::none;
    int compression_level = 0;
    // The sent-page cache (XBZRLE in QEMU's terms): up to this many bytes of
    // pages as last sent, so a page sent again from round 2 on goes as a
    // delta against its copy when that is smaller. 0 = off.
    uint64_t xbzrle_cache_bytes = 0;
    uint32_t batch_pages = 64;  // pages per record (capped by the wire format)
    std::function<void(const Progress&)> progress;
    // TLS 1.3 (a TlsRole::client credential): the handshake, bounded by
    // io_timeout, comes first; a receiver that fails it gets no data.
    std::optional<TlsCredentials> tls;
    // The host or IPv4 address connected to, which the receiver's x509
    // certificate must name (subjectAltName); empty = any certificate the CA
    // signed. Not used with PSK.
    std::string tls_peer_name;
    // Hot-page deferral (hot_page_deferral.hpp): before each round but the
    // first two and the final one, pages dirty at each of the last `rounds`
    // round syncs stay dirty in the bitmap (within what the final round can
    // carry in downtime_limit at the measured rate) and go in the final round.
    // With the KVM dirty log under manual protection they are not
    // re-protected meanwhile either; the ring and userfaultfd re-protect
    // every page they harvest, deferred or not.
    std::optional<HotPageDeferralOptions> defer_hot;
};

enum class OutcomeStatus {
    completed,             // the receiver acknowledged a matching copy; vCPUs stay paused
    timed_out,             // max_time or io_timeout passed
    receiver_failed,       // the receiver closed, reset, or answered nonsense
    rejected_by_receiver,  // the receiver refused the stream (its reason is in message)
    error,                 // a local failure (layout, harvest, re-protection)
};
const char* to_string(OutcomeStatus status);

struct Outcome {
    OutcomeStatus status = OutcomeStatus::error;
    std::string message;  // names the cause; empty when completed

    uint64_t rounds = 0;
    uint64_t pages_sent = 0;  // page entries, zero pages included
    uint64_t zero_pages = 0;
    uint64_t delta_pages = 0;  // sent as a delta against the cached copy
    uint64_t bytes_on_wire = 0;
    std::chrono::nanoseconds total_time{0};
    // Round 1, every page of the guest: at a link's pace, or at the sender's
    // own where that is slower (compression, zero pages on a fast link).
    std::chrono::nanoseconds first_round_time{0};
    std::chrono::nanoseconds downtime{0};            // pause -> the receiver's acknowledgement
    std::chrono::nanoseconds estimated_downtime{0};  // the last estimate before switchover
    // Where the downtime went, in order: the final sync, the final round
    // (its pages, deferred ones included), this side's digest with the
    // records around it, and the wait for the receiver's acknowledgement
    // (its own digest, and decoding what it had not yet read).
    struct DowntimeParts {
        std::chrono::nanoseconds sync{0}, final_round{0}, digest{0}, acknowledgement{0};
        uint64_t final_round_pages = 0;
    } downtime_parts;
    uint64_t round_syncs = 0;
    uint64_t background_syncs = 0;
    uint64_t deferred_pages = 0;  // hot-page deferral: pages kept back, summed over the rounds (page-rounds)
    // The sent-page cache, from round 2 on: pages found (hits) and not found
    // (misses; they go whole), and pages evicted to make room (overflows).
    uint64_t cache_hits = 0, cache_misses = 0, cache_overflows = 0;

    bool completed() const { return status == OutcomeStatus::completed; }
};

class Sender {
public:
    Sender(Tracker& tracker, Rounds& rounds, std::vector<GuestMemory> memory, VmControl& vm, SenderOptions options);

    // Migrates over a connected stream socket (the caller keeps and closes it).
    // One run at a time.
    Outcome run(int connected_socket_fd);

private:
    Tracker& tracker_;
    Rounds& rounds_;
    std::vector<GuestMemory> memory_;
    VmControl& vm_;
    SenderOptions options_;
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
