#include "dtvm/modes/migration_summary.hpp"

#include <nlohmann/json.hpp>

#include <chrono>

namespace dtvm {

namespace {

double milliseconds(std::chrono::nanoseconds d) { return std::chrono::duration<double, std::milli>(d).count(); }

nlohmann::json readers_json(const std::vector<ReaderRate>& readers) {
    nlohmann::json list = nlohmann::json::array();
    for (const ReaderRate& r : readers) {
        // The share of its warm-up pace a reader kept: what the throttle cost it.
        const nlohmann::json share =
            r.warmup_reads_per_s > 0 ? nlohmann::json(r.migration_reads_per_s / r.warmup_reads_per_s) : nullptr;
        list.push_back({{"vcpu", r.vcpu},
                        {"migration_reads_per_s", r.migration_reads_per_s},
                        {"warmup_reads_per_s", r.warmup_reads_per_s},
                        {"share_of_warmup", share}});
    }
    return list;
}

}  // namespace

double bytes_per_guest_byte(uint64_t bytes_sent, uint64_t guest_bytes) {
    return guest_bytes ? double(bytes_sent) / double(guest_bytes) : 0;
}

std::string migration_summary_json(const dtrack::precopy::Outcome& out, const MigrationFacts& facts) {
    const bool completed = out.completed();
    nlohmann::json j{
        {"status", dtrack::precopy::to_string(out.status)},
        {"total_s", std::chrono::duration<double>(out.total_time).count()},
        {"rounds", out.rounds},
        {"first_round_s", std::chrono::duration<double>(out.first_round_time).count()},
        // Only a completed migration stopped the guest for its switchover.
        {"downtime_ms", completed ? nlohmann::json(milliseconds(out.downtime)) : nullptr},
        {"estimated_downtime_ms", milliseconds(out.estimated_downtime)},
        {"bytes_sent", out.bytes_on_wire},
        {"guest_bytes", facts.guest_bytes},
        {"bytes_per_guest_byte", bytes_per_guest_byte(out.bytes_on_wire, facts.guest_bytes)},
        {"pages_sent", out.pages_sent},
        {"zero_pages", out.zero_pages},
        {"round_syncs", out.round_syncs},
        {"background_syncs", out.background_syncs},
        {"delta_pages", out.delta_pages},
        {"cache_hits", out.cache_hits},
        {"cache_misses", out.cache_misses},
        {"cache_overflows", out.cache_overflows},
        {"deferred_pages", out.deferred_pages},
        {"throttle_last_pct", facts.throttle_last_pct},
        {"readers", readers_json(facts.readers)},
    };
    if (completed) {
        const dtrack::precopy::Outcome::DowntimeParts& p = out.downtime_parts;
        j["downtime_parts_ms"] = {{"sync", milliseconds(p.sync)},
                                  {"final_round", milliseconds(p.final_round)},
                                  {"final_round_pages", p.final_round_pages},
                                  {"digest", milliseconds(p.digest)},
                                  {"acknowledgement", milliseconds(p.acknowledgement)}};
    } else {
        j["message"] = out.message;
    }
    // Invalid UTF-8 in a message (it can quote a peer) is replaced, not thrown on.
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace dtvm
