#include "dtrack/thread_write_faults.hpp"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "sources/thread_write_faults_program.hpp"
#include "sources/tracepoint_hooks.hpp"

namespace dtrack {

static_assert(ThreadWriteFaultsOptions::max_ranges == DTRACK_MAX_FAULT_RANGES);

namespace {

using FaultRanges = std::vector<dtrack_fault_range>;

std::string hex(uint64_t v) {
    char text[24];
    std::snprintf(text, sizeof text, "0x%" PRIx64, v);
    return text;
}

// The ranges sorted, with overlapping and adjacent ones merged, as the
// program scans them; an Error for an empty one or too many.
Result<FaultRanges> program_ranges(std::vector<AddressRange> ranges) {
    std::sort(ranges.begin(), ranges.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
    FaultRanges merged;
    for (const AddressRange& r : ranges) {
        if (r.begin >= r.end)
            return Error{EINVAL, "address range [" + hex(r.begin) + ", " + hex(r.end) + ") is empty",
                         "give each range's first byte and the byte after its last"};
        if (!merged.empty() && r.begin <= merged.back().end)
            merged.back().end = std::max<uint64_t>(merged.back().end, r.end);
        else merged.push_back({r.begin, r.end});
    }
    if (merged.size() > ThreadWriteFaultsOptions::max_ranges)
        return Error{EINVAL,
                     std::to_string(merged.size()) + " separate address ranges, more than the " +
                         std::to_string(ThreadWriteFaultsOptions::max_ranges) + " the write-fault filter holds",
                     "give the ranges of the tracked memory only, or none to count every write fault"};
    return merged;
}

// One rung of the ladder: open, configure, load, attach.
Result<std::unique_ptr<ThreadWriteFaultsProgram>> hook_with(HookFamily family, pid_t pid, uint32_t max_threads,
                                                            const FaultRanges& ranges) {
    auto program = ThreadWriteFaultsProgram::open();
    if (!program) return program.error();
    if (Status s = program.value()->configure(pid, max_threads, family, ranges); !s) return s.error();
    if (Status s = program.value()->load(); !s) return s.error();
    if (Status s = program.value()->attach(); !s) return s.error();
    return std::move(program.value());
}

}  // namespace

Result<std::unique_ptr<ThreadWriteFaults>> ThreadWriteFaults::attach(pid_t pid, ThreadWriteFaultsOptions options) {
    if (Status s = may_watch_with_bpf(pid, ""); !s) return s.error();
    auto ranges = program_ranges(options.ranges);
    if (!ranges) return ranges.error();
    HookLadder ladder;
    for (HookFamily family : hook_rungs(options.hooks)) {
        std::vector<std::string> notes;
        if (!ladder.prepare(family, notes)) continue;
        auto program = hook_with(family, pid, options.max_threads, *ranges);
        if (!program) {
            ladder.failed(family, program.error(), notes);
            continue;
        }
        ladder.note_fallback(family, notes);
        return std::unique_ptr<ThreadWriteFaults>(
            new ThreadWriteFaults(pid, std::move(program.value()), std::move(notes)));
    }
    return ladder.error("cannot count the write faults of process " + std::to_string(pid) +
                        " on exceptions:page_fault_user");
}

ThreadWriteFaults::ThreadWriteFaults(pid_t pid, std::unique_ptr<ThreadWriteFaultsProgram> program,
                                     std::vector<std::string> notes)
    : pid_(pid), program_(std::move(program)), notes_(std::move(notes)) {}

ThreadWriteFaults::~ThreadWriteFaults() = default;

std::string ThreadWriteFaults::hooked_with() const {
    return program_->family() == HookFamily::raw_tracepoint ? "raw tracepoints" : "tracepoints";
}

uint64_t ThreadWriteFaults::count(pid_t tid) const { return program_->count(tid); }

std::map<pid_t, uint64_t> ThreadWriteFaults::counts() const { return program_->counts(); }

ThreadWriteFaultTotals ThreadWriteFaults::totals() const {
    const dtrack_thread_write_fault_totals t = program_->totals();
    return {t.write_faults, t.unattributed, t.outside_ranges};
}

}  // namespace dtrack
