// The write-stamp oracle (after the kernel's dirty_log_test, written anew).
//
// Every guest write stores `epoch << 8 | vcpu` in the page it writes. At the
// end of an epoch the vCPUs stop at a consistent point, the tracker harvests
// once more and the consumer takes every dirty page. Then, for every page of
// the working set:
//   stamp says "written this epoch" but the page was not taken -> LOST (a bug)
//   taken but not written this epoch                            -> false positive
// The next epoch starts with a new stamp value.
//
// With hot-page deferral (EpochDeferral), the take keeps what the policy
// says, as the precopy sender does between rounds: a page written this epoch
// must then be taken or kept dirty, a kept page is taken at a later epoch
// (at the latest at one that releases everything, as the final round does),
// and a page kept at the previous epoch and taken now is no false positive. Reader vCPUs (--readers)
// write nothing, so no page holds their stamp: the check is the writers'
// alone, and a reader's written_per_vcpu is 0.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "dtrack/hot_page_deferral.hpp"

#include "dtvm/tracking/tracking.hpp"

namespace dtvm {

struct EpochResult {
    uint64_t epoch = 0;
    uint64_t written = 0;           // distinct working-set pages with this epoch's stamp (ground truth)
    uint64_t taken = 0;             // distinct pages the tracker handed to the consumer, all slots
    uint64_t lost = 0;              // written but not taken: must be 0
    uint64_t false_positives = 0;   // working-set pages taken but not written this epoch
    uint64_t outside_workload = 0;  // taken pages outside the working set (page tables, parameter pages)
    std::vector<uint64_t> written_per_vcpu;
    std::vector<uint64_t> taken_per_slot;
    uint64_t first_lost_page = ~0ULL;                // guest page number of the first lost page, for the message
    std::vector<std::vector<uint64_t>> taken_words;  // per slot: the bitmap taken (bit i of word w = page w*64+i)
    uint64_t kept = 0;                               // with deferral: pages left dirty for a later epoch
    uint64_t released = 0;  // with deferral: pages kept at the previous epoch, taken now, not written since
};

// Hot-page deferral in the epoch's take: `policy` plans with `capacity`
// pages (final_round_capacity_pages); `release` keeps nothing (a final round).
struct EpochDeferral {
    dtrack::HotPageDeferral& policy;
    double capacity = 0;
    bool release = false;
};

// Ends the current epoch: pause, final sync, take everything, check, start
// epoch + 1, resume. The VM must be running the workload.
dtrack::Result<EpochResult> check_epoch(Tracking& tracking, uint64_t wss_pages,
                                        std::optional<EpochDeferral> deferral = std::nullopt);

}  // namespace dtvm
