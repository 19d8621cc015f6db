// Rounds: one migration's state (rounds, syncs, periods) on a tracker.
#include <string>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_tracker.hpp"

using namespace dtrack;
using namespace dtrack::capi;

extern "C" {

int dt_rounds_create(dt_tracker* tracker, dt_rounds** out) {
    return c_boundary(__func__, [&] {
        if (!tracker) return null_argument("tracker");
        if (!out) return null_argument("out");
        auto rounds =
            std::make_unique<dt_rounds>(dt_rounds{tracker->tracker, std::make_shared<Rounds>(*tracker->tracker)});
        tracker->in_use = true;  // a watcher on these rounds may sync from now on
        *out = rounds.release();
        return 0;
    });
}

void dt_rounds_destroy(dt_rounds* rounds) { delete rounds; }

int dt_rounds_start_migration(dt_rounds* rounds) {
    return act_on(rounds, __func__, "rounds", [](dt_rounds& h) { h.rounds->start_migration(); });
}
int dt_rounds_finish_migration(dt_rounds* rounds) {
    return act_on(rounds, __func__, "rounds", [](dt_rounds& h) { h.rounds->finish_migration(); });
}
int dt_rounds_begin_round(dt_rounds* rounds) {
    return act_on(rounds, __func__, "rounds", [](dt_rounds& h) { h.rounds->begin_round(); });
}
int dt_rounds_end_round(dt_rounds* rounds) {
    return act_on(rounds, __func__, "rounds", [](dt_rounds& h) { h.rounds->end_round(); });
}
int dt_rounds_add_transferred(dt_rounds* rounds, uint64_t bytes) {
    return act_on(rounds, __func__, "rounds", [bytes](dt_rounds& h) { h.rounds->add_transferred(bytes); });
}

int dt_rounds_sync(dt_rounds* rounds, enum dt_sync_kind kind, struct dt_sync_report* report) {
    return c_boundary(__func__, [&] {
        if (!rounds) return null_argument("rounds");
        return run_sync(kind, report, [rounds](SyncKind k) { return rounds->rounds->sync(k); });
    });
}

uint64_t dt_rounds_round(const dt_rounds* rounds) { return rounds ? rounds->rounds->round() : 0; }

uint64_t dt_rounds_syncs(const dt_rounds* rounds, enum dt_sync_kind kind) {
    if (!rounds) return 0;
    return rounds->rounds->syncs(kind == DT_SYNC_ROUND ? SyncKind::round : SyncKind::background);
}

}  // extern "C"
