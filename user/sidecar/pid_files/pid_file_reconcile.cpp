#include "pid_file_reconcile.hpp"

#include <optional>
#include <set>

namespace dtrack::cli::sidecar {

namespace {

bool holds(const TargetPids& pids, const std::string& name, pid_t pid) {
    const auto it = pids.find(name);
    return it != pids.end() && it->second == pid;
}

}  // namespace

ReconcilePlan reconcile(const ReconcileInput& in) {
    ReconcilePlan plan;
    std::map<pid_t, std::string> holders;  // PID -> the target that measures it
    for (const auto& [name, pid] : in.others) holders.emplace(pid, name);
    size_t count = in.others.size();
    // Targets whose file still names their PID stay, and count first.
    std::set<std::string> kept;
    for (const auto& [name, pid] : in.attached) {
        if (!in.files.contains(name)) {
            plan.detach.push_back(name);
        } else if (holds(in.files, name, pid) && holders.emplace(pid, name).second) {
            kept.insert(name);
            ++count;
        }
    }
    for (const auto& [name, pid] : in.files) {
        if (kept.contains(name)) continue;
        std::optional<Refusal> refusal;
        if (holds(in.settled, name, pid)) {
            // tried already: nothing to attach, and no refusal to repeat
        } else if (in.others.contains(name)) {
            refusal = Refusal{name, pid, PidFileSkip::duplicate, name};
        } else if (const auto holder = holders.find(pid); holder != holders.end()) {
            refusal = Refusal{name, pid, PidFileSkip::duplicate, holder->second};
        } else if (count >= in.max_targets) {
            refusal = Refusal{name, pid, PidFileSkip::max_targets, {}};
        } else {
            plan.attach.emplace_back(name, pid);
            holders.emplace(pid, name);
            ++count;
            continue;
        }
        if (refusal) plan.refused.push_back(*refusal);
        // Attached with a PID its file no longer names.
        if (in.attached.contains(name)) plan.detach.push_back(name);
    }
    return plan;
}

}  // namespace dtrack::cli::sidecar
