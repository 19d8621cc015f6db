// Helpers the C ABI's files share about the tracker handle.
#pragma once

#include <functional>

#include "capi/capi_handles.hpp"
#include "dtrack/tracker.hpp"

namespace dtrack::capi {

// A dt_sync or dt_rounds_sync: checks `kind` and `report`, runs `sync`,
// fills `report`; returns 0 or the first failing source's error.
int run_sync(enum dt_sync_kind kind, dt_sync_report* report, const std::function<SyncReport(SyncKind)>& sync);

// -EBUSY when the tracker is in use (a region or source may no longer be added).
int refuse_when_in_use(const dt_tracker* tracker);

}  // namespace dtrack::capi
