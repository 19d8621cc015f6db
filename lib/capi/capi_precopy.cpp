// Precopy live migration over a socket the caller connected: the sender
// (driving a dt_rounds, so a watcher and a throttle on it take part) and the
// receiver, plain or TLS 1.3 with QEMU's credential files.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_sized_struct.hpp"
#include "consumers/precopy/socket.hpp"
#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/sender.hpp"

using namespace dtrack;
using namespace dtrack::capi;
using namespace dtrack::precopy;

namespace {

using std::chrono::milliseconds;

// The caller's regions as GuestMemory, checked as both sides check them
// (check_guest_memory); 0 or fail().
int guest_memory(const dt_memory* memory, size_t regions, std::vector<GuestMemory>& out) {
    if (!memory || regions == 0)
        return invalid("no regions to migrate", "pass an array of struct dt_memory and its length");
    for (size_t i = 0; i < regions; ++i) {
        const dt_memory& m = memory[i];
        if (!m.host || m.pages == 0)
            return invalid("memory[" + std::to_string(i) + "] has " + (m.host ? "0 pages" : "a NULL host pointer"),
                           "describe each region with its host address and page count");
        out.push_back(GuestMemory{.region = m.region,
                                  .host = static_cast<uint8_t*>(m.host),
                                  .pages = m.pages,
                                  .page_size = m.page_size ? m.page_size : 4096,
                                  .base = m.guest_phys_base});
    }
    return status_code(check_guest_memory(out));
}

// Loads the credentials `tls` names, if any; 0 or fail().
int tls_credentials(const dt_tls& tls, TlsRole role, std::optional<TlsCredentials>& out) {
    if (tls.x509_dir && tls.psk_file)
        return invalid("both tls.x509_dir and tls.psk_file are set",
                       "set one of them: x509 certificates or a pre-shared key");
    Result<TlsCredentials> loaded = Error{};
    if (tls.x509_dir) loaded = TlsCredentials::load_x509(tls.x509_dir, role);
    else if (tls.psk_file)
        loaded = TlsCredentials::load_psk(tls.psk_file, role, tls.psk_identity ? tls.psk_identity : "qemu");
    else return 0;
    if (!loaded) return fail(loaded.error());
    out = std::move(*loaded);
    return 0;
}

// The VMM's pause/resume callbacks as the sender's VmControl.
class CallbackVm : public VmControl {
public:
    explicit CallbackVm(const dt_send_opts& o) : o_(o) {}
    void pause_vcpus() override { o_.pause_vcpus(o_.user); }
    void resume_vcpus() override { o_.resume_vcpus(o_.user); }

private:
    const dt_send_opts& o_;
};

// An outcome that is not `completed` as errno, message and fix.
Error outcome_error(const Outcome& outcome) {
    switch (outcome.status) {
        case OutcomeStatus::completed: return Error{};
        case OutcomeStatus::timed_out:
            return Error{
                ETIMEDOUT, "migration timed out: " + outcome.message,
                "raise max_time_ms or io_timeout_ms, or the bandwidth; add a throttle if the guest outruns the link"};
        case OutcomeStatus::receiver_failed:
            return Error{ECONNRESET, "the receiver failed: " + outcome.message, "see the receiver's own error"};
        case OutcomeStatus::rejected_by_receiver:
            return Error{ECONNREFUSED, "the receiver refused the stream: " + outcome.message,
                         "give both ends the same regions (ids, bases, page counts) and matching TLS credentials"};
        case OutcomeStatus::error: break;
    }
    return Error{EIO, "migration failed: " + outcome.message, "see the cause named above"};
}

int send_status(OutcomeStatus status) {
    switch (status) {
        case OutcomeStatus::completed: return DT_SEND_COMPLETED;
        case OutcomeStatus::timed_out: return DT_SEND_TIMED_OUT;
        case OutcomeStatus::receiver_failed: return DT_SEND_RECEIVER_FAILED;
        case OutcomeStatus::rejected_by_receiver: return DT_SEND_REJECTED;
        case OutcomeStatus::error: break;
    }
    return DT_SEND_ERROR;
}

// dt_send_opts' compression fields (a `compress` of old callers is zlib);
// 0 or fail(). The level's range is the sender's to check.
int compression(const dt_send_opts& o, SenderOptions& options) {
    switch (o.compression) {
        case DT_COMPRESSION_UNSET: options.compression = o.compress ? Compression::zlib : Compression::none; break;
        case DT_COMPRESSION_NONE: options.compression = Compression::none; break;
        case DT_COMPRESSION_ZLIB: options.compression = Compression::zlib; break;
        case DT_COMPRESSION_ZSTD: options.compression = Compression::zstd; break;
        default:
            return invalid("dt_send_opts.compression is " + std::to_string(o.compression),
                           "use a DT_COMPRESSION_* value");
    }
    if (o.compress && options.compression != Compression::zlib)
        return invalid(
            std::string("dt_send_opts.compress asks for zlib and compression for ") + to_string(options.compression),
            "set compression alone (compress is the older way to ask for zlib)");
    if (!effective_level(options.compression, o.compression_level))
        return invalid("dt_send_opts.compression_level " + level_outside(options.compression, o.compression_level),
                       "use 0 for the method's default, or a level in its range");
    options.compression_level = o.compression_level;
    options.xbzrle_cache_bytes = o.xbzrle_cache_bytes;
    return 0;
}

// dt_send_opts.defer_hot_rounds: 0 = off, else k of HotPageDeferralOptions
// (any count past 8 is checked as 9: refused, not wrapped).
int hot_page_deferral(const dt_send_opts& o, SenderOptions& options) {
    if (o.defer_hot_rounds == 0) return 0;
    const HotPageDeferralOptions defer{.rounds = static_cast<int>(std::min<uint32_t>(o.defer_hot_rounds, 9))};
    if (Status s = check_hot_page_deferral(defer); !s)
        return invalid("dt_send_opts.defer_hot_rounds is " + std::to_string(o.defer_hot_rounds),
                       "give 1 to 8 rounds, or 0 for no deferral");
    options.defer_hot = defer;
    return 0;
}

uint64_t ns(std::chrono::nanoseconds d) { return static_cast<uint64_t>(d.count()); }

}  // namespace

extern "C" {

int dt_precopy_send(dt_rounds* rounds, const struct dt_memory* memory, size_t regions, int socket_fd,
                    const struct dt_send_opts* opts, struct dt_send_result* result) {
    return c_boundary(__func__, [&] {
        if (!rounds) return null_argument("rounds");
        dt_send_opts o;
        if (int rc = read_options(opts, "dt_send_opts", o); rc < 0) return rc;
        if (!o.pause_vcpus || !o.resume_vcpus)
            return invalid("dt_send_opts.pause_vcpus or resume_vcpus is NULL",
                           "pass both: the sender pauses the vCPUs for the switchover and resumes them on failure");
        if (int rc = check_result(result, "dt_send_result", false); rc < 0) return rc;
        std::vector<GuestMemory> guest;
        if (int rc = guest_memory(memory, regions, guest); rc < 0) return rc;
        for (const GuestMemory& m : guest)
            if (m.region >= rounds->tracker->region_count())
                return invalid("memory names region " + std::to_string(m.region) + ", which the tracker does not have",
                               "use the ids dt_add_memslot / dt_add_host_range returned");

        SenderOptions options{.bandwidth = o.bandwidth};
        if (int rc = compression(o, options); rc < 0) return rc;
        if (int rc = hot_page_deferral(o, options); rc < 0) return rc;
        if (o.downtime_limit_ms) options.downtime_limit = milliseconds(o.downtime_limit_ms);
        if (o.max_time_ms) options.max_time = milliseconds(o.max_time_ms);
        if (o.io_timeout_ms) options.io_timeout = milliseconds(o.io_timeout_ms);
        if (o.batch_pages) options.batch_pages = o.batch_pages;
        if (o.progress)
            options.progress = [fn = o.progress, user = o.user](const Progress& p) {
                const dt_progress c{.round = p.round,
                                    .remaining_pages = p.remaining_pages,
                                    .bandwidth = p.bandwidth,
                                    .estimated_downtime_ns = ns(p.estimated_downtime)};
                fn(user, &c);
            };
        if (int rc = tls_credentials(o.tls, TlsRole::client, options.tls); rc < 0) return rc;
        if (o.tls.peer_name) options.tls_peer_name = o.tls.peer_name;

        if (int rc = status_code(check_connected_stream(socket_fd)); rc < 0) return rc;
        CallbackVm vm(o);
        Sender sender(*rounds->tracker, *rounds->rounds, std::move(guest), vm, std::move(options));
        const Outcome outcome = sender.run(socket_fd);
        write_result(result, dt_send_result{.sz = sizeof(dt_send_result),
                                            .status = send_status(outcome.status),
                                            .rounds = outcome.rounds,
                                            .pages_sent = outcome.pages_sent,
                                            .zero_pages = outcome.zero_pages,
                                            .bytes_on_wire = outcome.bytes_on_wire,
                                            .total_time_ns = ns(outcome.total_time),
                                            .downtime_ns = ns(outcome.downtime),
                                            .round_syncs = outcome.round_syncs,
                                            .background_syncs = outcome.background_syncs,
                                            .delta_pages = outcome.delta_pages,
                                            .cache_hits = outcome.cache_hits,
                                            .cache_misses = outcome.cache_misses,
                                            .cache_overflows = outcome.cache_overflows,
                                            .deferred_pages = outcome.deferred_pages});
        return outcome.completed() ? 0 : fail(outcome_error(outcome));
    });
}

int dt_precopy_receive(const struct dt_memory* memory, size_t regions, int socket_fd,
                       const struct dt_receive_opts* opts, struct dt_receive_result* result) {
    return c_boundary(__func__, [&] {
        dt_receive_opts o;
        if (int rc = read_options(opts, "dt_receive_opts", o); rc < 0) return rc;
        if (int rc = check_result(result, "dt_receive_result", false); rc < 0) return rc;
        std::vector<GuestMemory> guest;
        if (int rc = guest_memory(memory, regions, guest); rc < 0) return rc;

        ReceiverOptions options;
        if (o.io_timeout_ms) options.io_timeout = milliseconds(o.io_timeout_ms);
        if (o.max_time_ms) options.max_time = milliseconds(o.max_time_ms);
        if (o.min_bytes_per_s) options.min_bytes_per_s = o.min_bytes_per_s;
        if (o.no_rate_floor) options.min_bytes_per_s = 0;
        if (o.rate_window_ms) options.rate_window = milliseconds(o.rate_window_ms);
        if (int rc = tls_credentials(o.tls, TlsRole::server, options.tls); rc < 0) return rc;

        if (int rc = status_code(check_connected_stream(socket_fd)); rc < 0) return rc;
        Receiver receiver(std::move(guest), std::move(options));
        auto report = receiver.run(socket_fd);
        if (!report) return fail(report.error());
        write_result(result, dt_receive_result{.sz = sizeof(dt_receive_result),
                                               .rounds = report->rounds,
                                               .pages = report->pages,
                                               .zero_pages = report->zero_pages,
                                               .records = report->records,
                                               .bytes = report->bytes,
                                               .digest = report->digest,
                                               .delta_pages = report->delta_pages});
        return 0;
    });
}

}  // extern "C"
