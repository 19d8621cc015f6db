// The watcher: background syncs on a dt_rounds, from a thread of its own.
#include <chrono>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_sized_struct.hpp"

using namespace dtrack;
using namespace dtrack::capi;

extern "C" {

int dt_watcher_create(dt_rounds* rounds, const struct dt_watcher_opts* opts, dt_watcher** out) {
    return c_boundary(__func__, [&] {
        if (!rounds) return null_argument("rounds");
        if (!out) return null_argument("out");
        dt_watcher_opts o;
        if (int rc = read_options(opts, "dt_watcher_opts", o); rc < 0) return rc;
        WatcherOptions options;
        if (o.poll_ms) options.poll = std::chrono::milliseconds(o.poll_ms);
        if (o.threshold_ms) options.threshold = std::chrono::milliseconds(o.threshold_ms);
        switch (o.trigger) {
            case DT_SYNC_ROUND_TIME: options.trigger = SyncTrigger::round_time; break;
            case DT_SYNC_PERIODIC: options.trigger = SyncTrigger::periodic; break;
            default:
                return invalid("dt_watcher_opts.trigger is " + std::to_string(o.trigger),
                               "use DT_SYNC_ROUND_TIME or DT_SYNC_PERIODIC");
        }
        std::function<bool()> keep_going;
        if (o.keep_going) keep_going = [fn = o.keep_going, user = o.user] { return fn(user); };
        auto watcher = std::make_unique<dt_watcher>();
        watcher->tracker = rounds->tracker;
        watcher->rounds = rounds->rounds;
        watcher->watcher = std::make_unique<Watcher>(*rounds->rounds, options, std::move(keep_going));
        *out = watcher.release();
        return 0;
    });
}

void dt_watcher_destroy(dt_watcher* watcher) { delete watcher; }  // ~Watcher stops the thread

int dt_watcher_start(dt_watcher* watcher) {
    return act_on(watcher, __func__, "watcher", [](dt_watcher& w) { w.watcher->start(); });
}

void dt_watcher_stop(dt_watcher* watcher) {
    (void)c_boundary(__func__, [&] {
        if (watcher) watcher->watcher->stop();
        return 0;
    });
}

int dt_watcher_get_counters(const dt_watcher* watcher, struct dt_watcher_counters* out) {
    return c_boundary(__func__, [&] {
        if (!watcher) return null_argument("watcher");
        if (int rc = check_result(out, "dt_watcher_counters", true); rc < 0) return rc;
        write_result(out, dt_watcher_counters{.sz = sizeof(dt_watcher_counters),
                                              .background_syncs = watcher->watcher->background_syncs(),
                                              .failed_syncs = watcher->watcher->failed_syncs()});
        return 0;
    });
}

}  // extern "C"
