// The targets a pid-file directory asks for, kept equal to what it holds:
// reads the files inotify says changed (every file at start, after the
// kernel dropped events, and when the directory's owner or mode changed),
// logs and counts each file skipped once, and applies reconcile()'s plan to
// the TargetSet. Runs on the main loop only.
//
// No periodic rescan: inotify misses no change to a local directory except
// when its queue overflows, and then it says so (IN_Q_OVERFLOW), which
// rescans. A periodic rescan would read every file each period to find
// nothing, and would hide a bug in the event path rather than show it.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "pid_file_dir.hpp"
#include "pid_file_reconcile.hpp"
#include "pid_file_skips.hpp"
#include "sidecar/targets/target_set.hpp"

namespace dtrack::cli::sidecar {

class PidFileTargets {
public:
    // At most `max_targets` targets in `targets`, --pid ones included.
    PidFileTargets(PidFileDir dir, TargetSet& targets, size_t max_targets, PidFileSkipCounts& skips);

    // Reads every file and reconciles (at start, and when events were lost).
    void rescan();
    // fd() is readable: reads the changes and reconciles.
    void on_changes();
    // After TargetSet::drop_exited(): the exited PIDs are not tried again
    // (the PID may be reused), and their places are free for files waiting.
    void on_exits(const TargetPids& exited);

    int fd() const { return dir_.fd(); }

private:
    // Reads NAME.pid again into view_, logging and counting a new skip.
    void update(const std::string& target);
    // Applies plans until an attach fails no more (a failure frees a place).
    void reconcile_all();
    bool apply(const ReconcilePlan& plan);  // false when an attach failed
    void note_refusals(const std::vector<Refusal>& refused);
    ReconcileInput input() const;

    PidFileDir dir_;
    TargetSet& targets_;
    const size_t max_targets_;
    PidFileSkipCounts& skips_;
    std::map<std::string, PidFileReading> view_;  // each NAME.pid there, as last read
    std::set<std::string> mine_;                  // the targets attached from pid files
    TargetPids settled_;                          // see ReconcileInput::settled
    std::map<std::string, Refusal> refused_;      // refusals logged, until they change
};

}  // namespace dtrack::cli::sidecar
