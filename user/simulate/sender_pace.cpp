// --sender-rate and --digest-rate for dtrack simulate (sender_pace.hpp).
#include "simulate/sender_pace.hpp"

#include <cerrno>

#include "dtrack/units.hpp"

namespace dtrack::cli {

void add_sender_pace_options(CLI::App* cmd, SenderPaceFlags& f) {
    cmd->add_option("--sender-rate", f.sender_rate,
                    "the sender's own pace, pages per second it reads, compresses and sends whole (e.g. 300k; "
                    "zero pages and deltas cost it next to nothing): a step takes its bytes at the bandwidth or "
                    "its whole pages at this pace, whichever is longer; default: no limit")
        ->type_name("PAGES/s");
    cmd->add_option("--digest-rate", f.digest_rate,
                    "switchover's digest of all guest memory (both sides hash it, the guest paused), bytes/s "
                    "(e.g. 2G): counted in the downtime and the total; default: not counted")
        ->type_name("BYTES/s");
}

namespace {

// A rate as parsed, refused with `if_zero` when it is 0; 0 when not given.
Result<double> nonzero(const std::string& typed, const Result<uint64_t>& rate, const Error& if_zero) {
    if (typed.empty()) return 0.0;
    if (!rate) return rate.error();
    if (*rate == 0) return if_zero;
    return double(*rate);
}

}  // namespace

Result<SenderPace> parse_sender_pace(const SenderPaceFlags& f) {
    auto pages = nonzero(f.sender_rate, parse_count(f.sender_rate, "--sender-rate"),
                         {EINVAL, "--sender-rate 0: a sender that never sends",
                          "give its pages/s, e.g. 300k, or leave it out for a link-bound sender"});
    if (!pages) return pages.error();
    auto digest = nonzero(f.digest_rate, parse_bytes_per_second(f.digest_rate, "--digest-rate"),
                          {EINVAL, "--digest-rate 0: a digest that never ends",
                           "give the host's hashing bytes/s, e.g. 2G, or leave it out"});
    if (!digest) return digest.error();
    return SenderPace{.pages_per_s = *pages, .digest_bytes_per_s = *digest};
}

}  // namespace dtrack::cli
