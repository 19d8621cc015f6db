#include "pid_file_targets.hpp"

#include "sidecar/metrics/target_source.hpp"
#include "sidecar/sidecar_log.hpp"

namespace dtrack::cli::sidecar {

PidFileTargets::PidFileTargets(PidFileDir dir, TargetSet& targets, size_t max_targets, PidFileSkipCounts& skips)
    : dir_(std::move(dir)), targets_(targets), max_targets_(max_targets), skips_(skips) {}

void PidFileTargets::rescan() {
    const std::vector<std::string> names = dir_.targets();
    const std::set<std::string> present(names.begin(), names.end());
    for (auto it = view_.begin(); it != view_.end();)
        it = present.contains(it->first) ? std::next(it) : view_.erase(it);
    for (const std::string& name : present) update(name);
    reconcile_all();
}

void PidFileTargets::on_changes() {
    const PidFileChanges changes = dir_.read_changes();
    if (changes.directory_gone)
        log_line("the pid-file directory " + dir_.dir() +
                 " was moved or removed: the sidecar follows the directory "
                 "it opened (restart it to watch a new one there)");
    if (changes.overflowed || changes.directory_changed) {
        log_line(changes.overflowed ? "the inotify queue of " + dir_.dir() +
                                          " overflowed (fs.inotify.max_queued_events): events were lost; rescanning it"
                                    : "the owner or mode of " + dir_.dir() + " changed: judging every pid file anew");
        rescan();
        return;
    }
    for (const std::string& name : changes.targets) update(name);
    reconcile_all();
}

void PidFileTargets::on_exits(const TargetPids& exited) {
    for (const auto& [name, pid] : exited)
        if (mine_.erase(name)) settled_[name] = pid;
    reconcile_all();
}

void PidFileTargets::update(const std::string& target) {
    const std::optional<PidFileReading> now = dir_.read(target);
    const auto before = view_.find(target);
    if (!now || (settled_.contains(target) && now->pid != settled_[target])) settled_.erase(target);
    if (!now) {
        if (before != view_.end()) view_.erase(before);
        return;
    }
    const bool seen = before != view_.end() && before->second == *now;
    if (!now->pid && !seen) {
        log_line("skipping " + dir_.path_of(target) + ": " + now->why);
        skips_.add(now->skip);
    }
    view_[target] = *now;
}

void PidFileTargets::reconcile_all() {
    while (!apply(reconcile(input()))) {
    }
}

bool PidFileTargets::apply(const ReconcilePlan& plan) {
    for (const std::string& name : plan.detach) {
        targets_.detach(name);
        mine_.erase(name);
    }
    bool all_attached = true;
    for (const auto& [name, pid] : plan.attach) {
        const Status s = targets_.attach(name, pid, target_source::pid_file);
        if (s) {
            mine_.insert(name);
            continue;
        }
        log_line("skipping target " + name + " (pid " + std::to_string(pid) + ", " + dir_.path_of(name) +
                 "): " + s.error().message());
        skips_.add(PidFileSkip::unmeasurable);
        settled_[name] = pid;
        all_attached = false;
    }
    note_refusals(plan.refused);
    return all_attached;
}

void PidFileTargets::note_refusals(const std::vector<Refusal>& refused) {
    std::map<std::string, Refusal> now;
    for (const Refusal& r : refused) {
        now[r.target] = r;
        // The same file, PID and reason: said already (a new holder of a
        // duplicated PID is no news for the other files).
        const auto before = refused_.find(r.target);
        if (before != refused_.end() && before->second.pid == r.pid && before->second.why == r.why) continue;
        const std::string file = dir_.path_of(r.target), pid = std::to_string(r.pid);
        if (r.why == PidFileSkip::max_targets)
            log_line("skipping " + file + " (pid " + pid + "): --max-targets " + std::to_string(max_targets_) +
                     " targets are attached already; it is attached when one goes; fix: raise --max-targets");
        else if (r.holder == r.target)
            log_line("skipping " + file + ": a --pid target is named " + r.target + " already; fix: rename the file");
        else
            log_line("skipping " + file + ": it names pid " + pid + ", which target " + r.holder +
                     " measures already (a process is measured once, under its first name); fix: remove one of the "
                     "pid files");
        skips_.add(r.why);
    }
    refused_ = std::move(now);
}

ReconcileInput PidFileTargets::input() const {
    ReconcileInput in{.settled = settled_, .max_targets = max_targets_};
    for (const auto& [name, reading] : view_)
        if (reading.pid) in.files[name] = *reading.pid;
    for (const auto& [name, pid] : targets_.pids()) (mine_.contains(name) ? in.attached : in.others)[name] = pid;
    return in;
}

}  // namespace dtrack::cli::sidecar
