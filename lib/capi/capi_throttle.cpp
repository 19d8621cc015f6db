// The throttle (auto-converge): listens to a dt_rounds' periods and slows
// the vCPUs through the VMM's apply callback.
#include <chrono>
#include <string>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_sized_struct.hpp"

using namespace dtrack;
using namespace dtrack::capi;

namespace {

// The options with dtrack's defaults where the caller left a zero; 0 or fail().
int throttle_options(const dt_throttle_opts& o, ThrottleOptions& out) {
    out = ThrottleOptions{};
    if (o.trigger_pct) out.trigger_pct = o.trigger_pct;
    if (o.initial_pct) out.initial_pct = o.initial_pct;
    if (o.increment_pct) out.increment_pct = o.increment_pct;
    if (o.max_pct) out.max_pct = o.max_pct;
    out.tail_slow = o.tail_slow;
    if (o.min_period_ms) out.min_period = std::chrono::milliseconds(o.min_period_ms);
    const auto within = [](int pct, int low, int high) { return pct >= low && pct <= high; };
    if (!within(out.trigger_pct, 0, 100) || !within(out.increment_pct, 0, 100) || !within(out.max_pct, 1, 99) ||
        !within(out.initial_pct, 0, out.max_pct))
        return invalid("trigger_pct " + std::to_string(out.trigger_pct) + ", initial_pct " +
                           std::to_string(out.initial_pct) + ", increment_pct " + std::to_string(out.increment_pct) +
                           ", max_pct " + std::to_string(out.max_pct) + ": out of range",
                       "use 0..100 for trigger_pct and increment_pct, 1..99 for max_pct, initial_pct at most max_pct "
                       "(0 = the default)");
    return 0;
}

}  // namespace

extern "C" {

int dt_throttle_create(dt_rounds* rounds, const struct dt_throttle_opts* opts, dt_throttle_fn apply, void* user,
                       dt_throttle** out) {
    return c_boundary(__func__, [&] {
        if (!rounds) return null_argument("rounds");
        if (!apply) return null_argument("apply");
        if (!out) return null_argument("out");
        dt_throttle_opts o;
        if (int rc = read_options(opts, "dt_throttle_opts", o); rc < 0) return rc;
        ThrottleOptions options;
        if (int rc = throttle_options(o, options); rc < 0) return rc;

        auto throttle = std::make_unique<dt_throttle>();
        throttle->tracker = rounds->tracker;
        throttle->rounds = rounds->rounds;
        throttle->slot = std::make_shared<ThrottleSlot>();
        throttle->slot->throttle = std::make_unique<Throttle>(options, [apply, user](int pct) { apply(user, pct); });
        rounds->rounds->on_period([slot = throttle->slot](const Period& period) {
            std::lock_guard lock(slot->mutex);
            if (slot->throttle) slot->throttle->on_period(period);
        });
        *out = throttle.release();
        return 0;
    });
}

void dt_throttle_destroy(dt_throttle* throttle) {
    (void)c_boundary(__func__, [&] {
        if (!throttle) return 0;
        {
            std::lock_guard lock(throttle->slot->mutex);  // waits for a period being judged
            throttle->slot->throttle.reset();
        }
        delete throttle;
        return 0;
    });
}

int dt_throttle_pct(const dt_throttle* throttle) { return throttle ? throttle->slot->throttle->pct() : 0; }

bool dt_throttle_at_max(const dt_throttle* throttle) { return throttle && throttle->slot->throttle->at_max(); }

int dt_throttle_reset(dt_throttle* throttle) {
    return act_on(throttle, __func__, "throttle", [](dt_throttle& t) { t.slot->throttle->reset(); });
}

}  // extern "C"
