// The targets KubeVirt discovery asks for, kept equal to the VMs the last
// scan found: a timer on the main loop runs a scan every 5 s (why a scan:
// kubevirt_scan.hpp), and pid_file_reconcile's plan (a process measured
// once, --max-targets) is applied to the TargetSet, as for pid files. Each
// process skipped is logged once, until its reason changes.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "dtrack/unique_fd.hpp"
#include "kubevirt_scan.hpp"
#include "sidecar/pid_files/pid_file_reconcile.hpp"
#include "sidecar/targets/target_set.hpp"

namespace dtrack::cli::sidecar {

inline constexpr std::chrono::seconds kubevirt_scan_period{5};

class KubevirtTargets {
public:
    static Result<KubevirtTargets> start(KubevirtScanOptions options, TargetSet& targets, size_t max_targets);

    // fd() is readable: the timer expired; scan and reconcile.
    void on_timer();
    // Scans now and reconciles (at start).
    void rescan();
    // After TargetSet::drop_exited(): exited PIDs are not tried again.
    void on_exits(const TargetPids& exited);

    int fd() const { return timer_.get(); }

private:
    KubevirtTargets(KubevirtScanner scanner, UniqueFd timer, TargetSet& targets, size_t max_targets)
        : scanner_(std::move(scanner)), timer_(std::move(timer)), targets_(targets), max_targets_(max_targets) {}
    void note_skips(const KubevirtScan& scan);
    void apply(const ReconcilePlan& plan);

    KubevirtScanner scanner_;
    UniqueFd timer_;
    TargetSet& targets_;
    size_t max_targets_;
    std::map<std::string, KubevirtVm> found_;   // target -> the VM the last scan found
    std::set<std::string> mine_;                // targets attached from discovery
    TargetPids settled_;                        // tried and failed, or exited: not tried again
    std::map<pid_t, std::string> skip_logged_;  // PID -> the reason logged
    std::map<std::string, Refusal> refused_;    // refusals logged, until they change
};

}  // namespace dtrack::cli::sidecar
