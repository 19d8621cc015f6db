// One attached target: measured as `dtrack rate` measures it (TargetMeter), and a
// thread that harvests it every interval and keeps its figures (counters,
// working-set windows) for scrapes to copy. A scrape never waits for a
// harvest: figures() copies under a mutex that a harvest holds only to
// publish.
//
// The thread also watches the process (a pidfd): when it exits, the thread
// stops and calls `on_exit` (the sidecar then logs it and drops the target).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "dtrack/rate_meter.hpp"
#include "dtrack/target_meter.hpp"
#include "dtrack/unique_fd.hpp"
#include "sidecar/metrics/working_set_windows.hpp"
#include "target_figures.hpp"

namespace dtrack::cli::sidecar {

struct HarvestOptions {
    TargetMeterOptions method;  // as dtrack rate's; per_vcpu with a quota
    std::chrono::nanoseconds interval = std::chrono::seconds(1);
    std::optional<double> quota_pages_per_s;  // per vCPU (--quota)
    // --forecast-bandwidth, --forecast-downtime: a precopy forecast each
    // interval, as dtrack rate's (dtrack/migration_forecast.hpp); none: off.
    std::optional<double> forecast_bandwidth;  // bytes/s
    std::chrono::milliseconds forecast_downtime{300};
};

class TargetHarvester {
public:
    // Sets up the method on process `pid` as `dtrack rate` does and starts
    // harvesting. `target` is the label; empty: COMM-PID. `source` says how
    // the sidecar found it (metrics/target_source.hpp). Errors name the
    // cause and the fix (no such process, a thread id, no permission, no
    // dirty ring for bpf, ...); then nothing stays attached. `labels` go on
    // its info series.
    static Result<std::unique_ptr<TargetHarvester>> start(std::string target, pid_t pid, std::string_view source,
                                                          const HarvestOptions& options, std::function<void()> on_exit,
                                                          const TargetLabels& labels = {});
    // Stops the thread, then detaches: the tracker's sources go with it (a
    // BPF source closes its programs and links).
    ~TargetHarvester();
    TargetHarvester(const TargetHarvester&) = delete;
    TargetHarvester& operator=(const TargetHarvester&) = delete;

    TargetFigures figures() const;
    bool exited() const;
    const std::string& target() const { return identity_.target; }
    pid_t pid() const { return identity_.pid; }
    const std::string& comm() const { return identity_.comm; }
    // How the method was chosen ("auto: pid 12 (qemu) runs a KVM VM with the dirty ring ...").
    const std::string& why() const { return measured_->why(); }
    // What the method hooks or does ("kvm:kvm_dirty_ring_push", "hashing a random sample of pages").
    const std::string& hooks() const { return measured_->sources(); }
    // With a quota: why the target has no per-vCPU rates, if it has none.
    const std::optional<Error>& no_vcpu_view() const { return measured_->vcpu_method().no_vcpu_view; }

private:
    TargetHarvester(TargetFigures identity, std::unique_ptr<TargetMeter> measured, UniqueFd pidfd, UniqueFd stop,
                    const HarvestOptions& o, std::function<void()> on_exit);
    void run();
    // One interval: harvest, update the windows, publish. False when the
    // process turned out to be gone.
    bool harvest_once();
    // After a failed harvest: false where the target is gone (exited, or ran a
    // new program); else true, the failure logged once per streak.
    bool still_measurable(const Error& failed);
    // The counters the tracker and the BPF programs keep, into `f`.
    void read_counters(TargetFigures& f) const;

    const TargetFigures identity_;           // the figures' labels, fixed at attach
    std::unique_ptr<TargetMeter> measured_;  // the state-aware method, as dtrack rate measures
    UniqueFd pidfd_;                         // readable once the process has exited
    UniqueFd stop_;                          // an eventfd: written by the destructor
    const std::chrono::nanoseconds interval_;
    const std::optional<double> quota_;
    const std::optional<double> forecast_bandwidth_;
    const std::chrono::milliseconds forecast_downtime_;
    std::function<void()> on_exit_;
    WorkingSetWindows windows_;
    bool failing_ = false;  // the last harvest failed (logged once per streak)

    mutable std::mutex figures_mutex_;
    TargetFigures figures_;
    bool exited_ = false;

    std::thread thread_;  // last: started when everything above is ready
};

}  // namespace dtrack::cli::sidecar
