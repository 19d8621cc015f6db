// What to attach, detach and refuse so that the pid-file targets are the
// pid files the directory holds now: one decision on plain maps, apart from
// inotify and the harvesters, taken at start, after each batch of inotify
// events, after a rescan (the queue overflowed) and when targets exit.
//
// A process is measured once: of several files naming one PID, the target
// attached first keeps it (at start, the first name in order) and the others
// are refused naming it; when it goes, the next one takes the PID. Two
// targets on one process would double its rate in any sum over the host, and
// 1000 files naming one PID must not make 1000 harvester threads. At most
// `max_targets` targets, --pid ones included: those attached stay, new ones
// wait (refused) until one goes.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pid_file_skips.hpp"

namespace dtrack::cli::sidecar {

using TargetPids = std::map<std::string, pid_t>;  // target name -> PID

struct ReconcileInput {
    TargetPids files;     // NAME -> PID of each usable, trusted NAME.pid now
    TargetPids attached;  // the pid-file targets attached now
    TargetPids others;    // the targets from --pid
    // NAME -> PID tried and failed, or whose process exited: not tried again
    // until the file names another PID (a PID may be reused by then).
    TargetPids settled;
    size_t max_targets = 0;
};

struct Refusal {
    std::string target;
    pid_t pid = 0;
    PidFileSkip why = PidFileSkip::duplicate;  // duplicate or max_targets
    std::string holder;                        // duplicate: the target that measures the PID (or has the name)
    bool operator==(const Refusal&) const = default;
};

struct ReconcilePlan {
    std::vector<std::string> detach;
    std::vector<std::pair<std::string, pid_t>> attach;  // replaces a target of that name with another PID
    std::vector<Refusal> refused;
};

ReconcilePlan reconcile(const ReconcileInput& in);

}  // namespace dtrack::cli::sidecar
