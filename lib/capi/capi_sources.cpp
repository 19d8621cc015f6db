// The sources: the KVM dirty ring (with its reaper and the full-exit hook),
// the KVM dirty log, and userfaultfd on a host range. Each is added to the
// tracker, which owns it; dt_ring and dt_log are borrowed views.
#include <string>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_sized_struct.hpp"
#include "capi/capi_tracker.hpp"
#include "dtrack/uffd_source.hpp"

using namespace dtrack;
using namespace dtrack::capi;

namespace {

// The checks every source's set-up shares; 0 or fail().
int check_source_setup(const dt_tracker* tracker) {
    if (!tracker) return null_argument("tracker");
    return refuse_when_in_use(tracker);
}

// The VMM's C rearm callback as the ring source's Status callback.
std::function<Status()> rearm_callback(const dt_ring_opts& o) {
    if (!o.rearm) return {};
    return [fn = o.rearm, user = o.rearm_user]() -> Status {
        const int rc = fn(user);
        if (rc == 0) return Ok{};
        return errno_error("the VMM's rearm callback (dt_ring_opts.rearm)", rc < 0 ? -rc : EIO,
                           "make rearm turn KVM_MEM_LOG_DIRTY_PAGES off and on for every memslot and return 0");
    };
}

// Hands `source` to the tracker, which owns it, and keeps a borrowed view
// of it (a dt_ring or dt_log) for the caller.
template <typename View, typename SourceType>
View* add_viewed_source(dt_tracker& tracker, std::vector<std::unique_ptr<View>>& views,
                        std::unique_ptr<SourceType> source) {
    auto view = std::make_unique<View>(View{source.get()});
    views.reserve(views.size() + 1);  // so nothing can throw after add_source
    tracker.tracker->add_source(std::move(source));
    views.push_back(std::move(view));
    return views.back().get();
}

}  // namespace

extern "C" {

int dt_ring_enable(dt_tracker* tracker, int vm_fd, const struct dt_ring_opts* opts, dt_ring** out) {
    return c_boundary(__func__, [&] {
        if (int rc = check_source_setup(tracker); rc < 0) return rc;
        if (!out) return null_argument("out");
        dt_ring_opts o;
        if (int rc = read_options(opts, "dt_ring_opts", o); rc < 0) return rc;
        KvmRingOptions options{.acq_rel = !o.no_acq_rel, .rearm = rearm_callback(o)};
        if (o.entries) options.entries = o.entries;
        auto source = KvmRingSource::enable(vm_fd, *tracker->tracker, std::move(options));
        if (!source) return fail(source.error());
        *out = add_viewed_source(*tracker, tracker->rings, std::move(*source));
        return 0;
    });
}

int dt_ring_add_vcpu(dt_ring* ring, int vcpu_fd, uint32_t index) {
    return c_boundary(__func__, [&] {
        if (!ring) return null_argument("ring");
        return status_code(ring->source->add_vcpu(vcpu_fd, index));
    });
}

int dt_ring_on_full(dt_ring* ring, uint32_t vcpu_index) {
    return c_boundary(__func__, [&] {
        if (!ring) return null_argument("ring");
        return status_code(ring->source->on_ring_full(vcpu_index));
    });
}

int dt_ring_on_full_own(dt_ring* ring, uint32_t vcpu_index) {
    return c_boundary(__func__, [&] {
        if (!ring) return null_argument("ring");
        return status_code(ring->source->on_ring_full(vcpu_index, dtrack::FullExitReap::own_ring));
    });
}

int dt_ring_start_reaper(dt_ring* ring) {
    return act_on(ring, __func__, "ring", [](dt_ring& r) { r.source->start_reaper(); });
}

void dt_ring_stop_reaper(dt_ring* ring) {
    (void)c_boundary(__func__, [&] {
        if (ring) ring->source->stop_reaper();
        return 0;
    });
}

int dt_ring_get_counters(const dt_ring* ring, struct dt_ring_counters* out) {
    return c_boundary(__func__, [&] {
        if (!ring) return null_argument("ring");
        if (int rc = check_result(out, "dt_ring_counters", true); rc < 0) return rc;
        const KvmRingCounters c = ring->source->ring_counters();
        write_result(out, dt_ring_counters{.sz = sizeof(dt_ring_counters),
                                           .full_exits = c.full_exits,
                                           .resets = c.resets,
                                           .jams = c.jams,
                                           .rearms = c.rearms,
                                           .reaper_passes = c.reaper_passes,
                                           .entries = ring->source->entries(),
                                           .acq_rel = ring->source->acq_rel(),
                                           .blind = c.blind});
        return 0;
    });
}

int dt_log_enable(dt_tracker* tracker, int vm_fd, const struct dt_log_opts* opts, dt_log** out) {
    return c_boundary(__func__, [&] {
        if (int rc = check_source_setup(tracker); rc < 0) return rc;
        if (!out) return null_argument("out");
        dt_log_opts o;
        if (int rc = read_options(opts, "dt_log_opts", o); rc < 0) return rc;
        auto source = KvmLogSource::enable(vm_fd, *tracker->tracker, {.manual_protect = !o.no_manual_protect});
        if (!source) return fail(source.error());
        *out = add_viewed_source(*tracker, tracker->logs, std::move(*source));
        return 0;
    });
}

bool dt_log_manual_protect(const dt_log* log) { return log && log->source->manual_protect(); }

int dt_uffd_track(dt_tracker* tracker, uint32_t region) {
    return c_boundary(__func__, [&] {
        if (int rc = check_source_setup(tracker); rc < 0) return rc;
        auto source = UffdSource::track(*tracker->tracker, region);
        if (!source) return fail(source.error());
        tracker->tracker->add_source(std::move(*source));
        return 0;
    });
}

}  // extern "C"
