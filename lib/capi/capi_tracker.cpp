// The tracker handle: create/destroy, regions, sync, counters.
#include <unistd.h>

#include <string>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_sized_struct.hpp"
#include "capi/capi_tracker.hpp"

using namespace dtrack;
using namespace dtrack::capi;

namespace dtrack::capi {

int run_sync(enum dt_sync_kind kind, dt_sync_report* report, const std::function<SyncReport(SyncKind)>& sync) {
    if (kind != DT_SYNC_ROUND && kind != DT_SYNC_BACKGROUND)
        return invalid("sync kind " + std::to_string(int(kind)) + " is not one dtrack has",
                       "pass DT_SYNC_ROUND or DT_SYNC_BACKGROUND");
    if (int rc = check_result(report, "dt_sync_report", false); rc < 0) return rc;
    const SyncReport r = sync(kind == DT_SYNC_ROUND ? SyncKind::round : SyncKind::background);
    write_result(report, dt_sync_report{.sz = sizeof(dt_sync_report),
                                        .pages = r.pages,
                                        .new_dirty = r.new_dirty,
                                        .lost = r.lost,
                                        .failed_sources = static_cast<uint32_t>(r.errors.size()),
                                        .duration_ns = static_cast<uint64_t>(r.duration.count())});
    return r.ok() ? 0 : fail(r.errors.front());
}

int refuse_when_in_use(const dt_tracker* tracker) {
    if (!tracker->in_use.load()) return 0;
    return fail(Error{EBUSY, "the tracker has synced (or has rounds); regions and sources can no longer be added",
                      "add every region and source before the first dt_sync, dt_take_* or dt_rounds_create"});
}

}  // namespace dtrack::capi

namespace {

// Adds `region` unless the tracker is in use; returns its id or fail().
int add_region(dt_tracker* tracker, Region region) {
    if (int rc = refuse_when_in_use(tracker); rc < 0) return rc;
    auto id = tracker->tracker->add_region(std::move(region));
    if (!id) return fail(id.error());
    return static_cast<int>(*id);
}

}  // namespace

extern "C" {

int dt_tracker_create(dt_tracker** out) {
    return c_boundary(__func__, [&] {
        if (!out) return null_argument("out");
        *out = new dt_tracker;
        return 0;
    });
}

void dt_tracker_destroy(dt_tracker* tracker) { delete tracker; }

int dt_add_memslot(dt_tracker* tracker, const char* name, uint32_t slot, uint64_t guest_phys_base, uint64_t pages) {
    return c_boundary(__func__, [&] {
        if (!tracker) return null_argument("tracker");
        if (pages == 0)
            return invalid("memslot " + std::to_string(slot) + " has 0 pages",
                           "pass the memslot's page count (memory_size / 4096)");
        if (guest_phys_base % 4096 != 0)
            return invalid("guest-physical base " + std::to_string(guest_phys_base) + " is not 4 KiB-aligned",
                           "pass the memslot's guest_phys_addr, which KVM requires page-aligned");
        return add_region(tracker, Region{.name = name ? name : "slot " + std::to_string(slot),
                                          .space = AddressSpace::guest_physical,
                                          .slot = slot,
                                          .base = guest_phys_base,
                                          .page_size = 4096,
                                          .page_count = pages});
    });
}

int dt_add_host_range(dt_tracker* tracker, const char* name, void* addr, uint64_t pages) {
    return c_boundary(__func__, [&] {
        if (!tracker) return null_argument("tracker");
        const uint64_t page_size = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        const uint64_t base = reinterpret_cast<uint64_t>(addr);
        if (!addr || pages == 0 || base % page_size != 0)
            return invalid(
                std::to_string(pages) + " pages at address " + std::to_string(base) + " is not a range of whole pages",
                "pass a page-aligned, non-NULL address (mmap gives one) and a page count above 0");
        return add_region(tracker, Region{.name = name ? name : "host range",
                                          .space = AddressSpace::host_virtual,
                                          .base = base,
                                          .page_size = page_size,
                                          .page_count = pages});
    });
}

int dt_sync(dt_tracker* tracker, enum dt_sync_kind kind, struct dt_sync_report* report) {
    return c_boundary(__func__, [&] {
        if (!tracker) return null_argument("tracker");
        return run_sync(kind, report, [tracker](SyncKind k) {
            tracker->in_use = true;
            return tracker->tracker->sync(k);
        });
    });
}

int dt_get_counters(const dt_tracker* tracker, struct dt_counters* out) {
    return c_boundary(__func__, [&] {
        if (!tracker) return null_argument("tracker");
        if (int rc = check_result(out, "dt_counters", true); rc < 0) return rc;
        const Counters c = tracker->tracker->counters();
        dt_counters full{.sz = sizeof(dt_counters),
                         .rounds = c.rounds,
                         .syncs_round = c.syncs_round,
                         .syncs_background = c.syncs_background,
                         .regions = static_cast<uint32_t>(c.pages_per_region.size()),
                         .sources = static_cast<uint32_t>(c.sources.size())};
        for (const SourceCounters& s : c.sources) {
            full.harvests += s.harvests;
            full.pages += s.pages;
            full.new_dirty += s.new_dirty;
            full.lost += s.lost;
            full.overapproximated += s.overapproximated;
            full.failures += s.failures;
        }
        write_result(out, full);
        return 0;
    });
}

}  // extern "C"
