// --sender-rate and --digest-rate for dtrack simulate (sender_pace.hpp).
#include "simulate/sender_pace.hpp"

#include <cerrno>

#include "dtrack/units.hpp"

namespace dtrack::cli {

void add_sender_pace_options(CLI::App* cmd, SenderPaceFlags& f) {
    cmd->add_option("--sender-rate", f.sender_rate,
                    "the sender's own pace, pages/s it reads, checks, encodes and compresses (e.g. 300k): a step "
                    "takes its bytes at the bandwidth or its pages at this pace, whichever is longer; default: no "
                    "limit")
        ->type_name("PAGES/s");
    cmd->add_option("--digest-rate", f.digest_rate,
                    "switchover's digest of all guest memory (both sides hash it, the guest paused), bytes/s "
                    "(e.g. 2G): counted in the downtime and the total; default: not counted")
        ->type_name("BYTES/s");
}

Result<SenderPace> parse_sender_pace(const SenderPaceFlags& f) {
    SenderPace pace;
    if (!f.sender_rate.empty()) {
        auto rate = parse_count(f.sender_rate, "--sender-rate");
        if (!rate) return rate.error();
        if (*rate == 0)
            return Error{EINVAL, "--sender-rate 0: a sender that never sends",
                         "give its pages/s, e.g. 300k, or leave it out for a link-bound sender"};
        pace.pages_per_s = double(*rate);
    }
    if (!f.digest_rate.empty()) {
        auto rate = parse_bytes_per_second(f.digest_rate, "--digest-rate");
        if (!rate) return rate.error();
        if (*rate == 0)
            return Error{EINVAL, "--digest-rate 0: a digest that never ends",
                         "give the host's hashing bytes/s, e.g. 2G, or leave it out"};
        pace.digest_bytes_per_s = double(*rate);
    }
    return pace;
}

}  // namespace dtrack::cli
