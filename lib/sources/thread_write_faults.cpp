#include "dtrack/thread_write_faults.hpp"

#include "sources/thread_write_faults_program.hpp"
#include "sources/tracepoint_hooks.hpp"

namespace dtrack {

namespace {

// One rung of the ladder: open, configure, load, attach.
Result<std::unique_ptr<ThreadWriteFaultsProgram>> hook_with(HookFamily family, pid_t pid, uint32_t max_threads) {
    auto program = ThreadWriteFaultsProgram::open();
    if (!program) return program.error();
    if (Status s = program.value()->configure(pid, max_threads, family); !s) return s.error();
    if (Status s = program.value()->load(); !s) return s.error();
    if (Status s = program.value()->attach(); !s) return s.error();
    return std::move(program.value());
}

}  // namespace

Result<std::unique_ptr<ThreadWriteFaults>> ThreadWriteFaults::attach(pid_t pid, ThreadWriteFaultsOptions options) {
    if (Status s = may_watch_with_bpf(pid, ""); !s) return s.error();
    HookLadder ladder;
    for (HookFamily family : hook_rungs(options.hooks)) {
        std::vector<std::string> notes;
        if (!ladder.prepare(family, notes)) continue;
        auto program = hook_with(family, pid, options.max_threads);
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
    return {t.write_faults, t.unattributed};
}

}  // namespace dtrack
