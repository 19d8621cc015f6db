#include "kubevirt_targets.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include "sidecar/metrics/target_source.hpp"
#include "sidecar/sidecar_log.hpp"

namespace dtrack::cli::sidecar {

Result<KubevirtTargets> KubevirtTargets::start(KubevirtScanOptions options, TargetSet& targets, size_t max_targets) {
    if (::access(options.proc_root.c_str(), R_OK) != 0)
        return errno_error("reading " + options.proc_root, errno, "mount the host's /proc (hostPID: true)");
    UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer.valid()) return errno_error("timerfd_create", errno);
    const itimerspec every{.it_interval = {.tv_sec = kubevirt_scan_period.count()},
                           .it_value = {.tv_sec = kubevirt_scan_period.count()}};
    if (::timerfd_settime(timer.get(), 0, &every, nullptr) != 0) return errno_error("timerfd_settime", errno);
    return KubevirtTargets(KubevirtScanner(std::move(options)), std::move(timer), targets, max_targets);
}

void KubevirtTargets::on_timer() {
    uint64_t expirations;
    (void)!::read(timer_.get(), &expirations, sizeof expirations);
    rescan();
}

void KubevirtTargets::rescan() {
    const KubevirtScan scan = scanner_.scan();
    note_skips(scan);
    found_.clear();
    ReconcileInput in{.max_targets = max_targets_};
    for (const FoundVm& f : scan.found) {
        in.files[f.vm.target] = f.pid;
        found_[f.vm.target] = f.vm;
    }
    // A pass cut short saw only some processes: the VMs it missed stay.
    for (const auto& [name, pid] : targets_.pids()) {
        const bool mine = mine_.contains(name);
        (mine ? in.attached : in.others)[name] = pid;
        if (mine && scan.cut_short && !in.files.contains(name)) in.files[name] = pid;
    }
    for (auto it = settled_.begin(); it != settled_.end();)
        it = in.files.contains(it->first) ? std::next(it) : settled_.erase(it);
    in.settled = settled_;
    apply(reconcile(in));
}

void KubevirtTargets::on_exits(const TargetPids& exited) {
    for (const auto& [name, pid] : exited)
        if (mine_.erase(name)) settled_[name] = pid;
}

void KubevirtTargets::note_skips(const KubevirtScan& scan) {
    if (scan.cut_short)
        log_line("kubevirt discovery: a pass over " + scanner_.options().proc_root +
                 " stopped at its process limit or deadline; the rest is read next pass");
    std::map<pid_t, std::string> now;
    for (const SkippedProcess& s : scan.skipped) {
        now[s.pid] = s.why;
        const auto before = skip_logged_.find(s.pid);
        if (before == skip_logged_.end() || before->second != s.why)
            log_line("kubevirt discovery: skipping pid " + std::to_string(s.pid) + ": " + s.why);
    }
    skip_logged_ = std::move(now);
}

void KubevirtTargets::apply(const ReconcilePlan& plan) {
    for (const std::string& name : plan.detach) {
        targets_.detach(name);
        mine_.erase(name);
    }
    for (const auto& [name, pid] : plan.attach) {
        const Status s = targets_.attach(name, pid, target_source::kubevirt, found_.at(name).labels);
        if (s) {
            mine_.insert(name);
            continue;
        }
        log_line("kubevirt discovery: skipping VM " + name + " (pid " + std::to_string(pid) +
                 "): " + s.error().message());
        settled_[name] = pid;
    }
    std::map<std::string, Refusal> now;
    for (const Refusal& r : plan.refused) {
        now[r.target] = r;
        const auto before = refused_.find(r.target);
        if (before != refused_.end() && before->second == r) continue;
        log_line("kubevirt discovery: skipping VM " + r.target + " (pid " + std::to_string(r.pid) + "): " +
                 (r.why == PidFileSkip::max_targets ? "--max-targets " + std::to_string(max_targets_) +
                                                          " targets are attached already; fix: raise --max-targets"
                                                    : "target " + r.holder + " measures that process already"));
    }
    refused_ = std::move(now);
}

}  // namespace dtrack::cli::sidecar
