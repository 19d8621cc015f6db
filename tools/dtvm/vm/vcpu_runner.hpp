// VcpuRunner: one vCPU and the thread that runs it, whatever runs the guest.
//
// Two backends share everything above the guest: the KVM backend runs guest.S
// under KVM_RUN (kvm_vcpu.hpp), the process backend runs the same workload as
// a C++ loop over plain memory (process_vcpu.hpp). Both read their parameter
// page (guest_abi.hpp), stamp `epoch << 8 | vcpu`, and reach an "exit" every
// exit_every writes, where this class counts, paces (rate limit, throttle)
// and lets a pause or stop in. Pause, resume and stop go through RunControl.
// A reader (vcpu_role.hpp) loads where a writer stores and counts its reads
// the same way; it pauses, stops and is throttled like a writer, but has no
// rate limit: it reads as fast as it runs.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "dtvm/vm/pacer.hpp"
#include "dtvm/vm/reader_cpus.hpp"
#include "dtvm/guest/param_page.hpp"
#include "dtvm/vm/run_control.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

// What the vCPU threads share with their Vm; outlives them.
struct VcpuShared {
    RunControl* control = nullptr;
    const std::atomic<int>* throttle_pct = nullptr;                         // every vCPU alike (auto-converge)
    ShareAt share_at = ShareAt::slice;                                      // where a vCPU's own share is taken
    const std::function<dtrack::Status(uint32_t)>* on_ring_full = nullptr;  // KVM backend only
    uint64_t rate_per_vcpu = 0;                                             // 0 = unlimited
    const ReaderCpus* reader_cpus = nullptr;                                // readers' own CPUs; null: anywhere
};

class VcpuRunner {
public:
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;
    virtual ~VcpuRunner() = default;  // derived classes join() first: the thread uses them

    uint32_t id() const { return id_; }
    VcpuRole role() const { return role_; }
    const ParamPage& params() const { return params_; }

    // Starts the thread; returns once it runs (thread_id() is known).
    void start(const VcpuShared& shared);
    // The thread's id (gettid()), 0 before start(): where the kernel counts
    // its write faults on the process backend.
    pid_t thread_id() const { return tid_.load(std::memory_order_acquire); }
    // Gets the thread out of the guest if it is in there and would not see a
    // pause by itself (harmless otherwise).
    virtual void kick() {}
    void join();

    // This vCPU's own sleep share (the dirty limit's), 0..Pacer::kMaxShare.
    void set_share(double share) { share_.store(share, std::memory_order_relaxed); }
    double share() const { return share_.load(std::memory_order_relaxed); }

    VcpuStats stats() const;
    std::string failure() const;

protected:
    VcpuRunner(uint32_t id, VcpuRole role, ParamPage params) : id_(id), role_(role), params_(params) {}

    // The thread body; returns when RunControl says stop or the guest failed.
    virtual void run() = 0;

    // This vCPU's pacing: the rate limit (none for a reader) and the throttle.
    Pacer make_pacer() const;
    // At an exit, with `accesses` page writes (a reader: reads) done so far:
    // count it, publish the count, and sleep as the rate limit and throttle
    // say (a pause or stop cuts the sleep short).
    void exit_reached(Pacer& pacer, uint64_t accesses);
    // After a ring-full exit's ring was emptied: sleep this vCPU's share
    // when it is taken there (ShareAt::ring_full).
    void ring_full_reached(Pacer& pacer);
    // Back from a pause: first the rest of a sleep the pause cut short (a
    // ring-full sleep can last seconds; a check every second must not
    // cancel it), then the pacer starts again.
    void resumed(Pacer& pacer, uint64_t accesses);
    void fail(std::string why);
    pthread_t native_handle() { return thread_.native_handle(); }

    const uint32_t id_;
    const VcpuRole role_;
    const ParamPage params_;
    VcpuShared shared_;
    std::atomic<bool> running_{false};

    std::atomic<uint64_t> accesses_{0};  // page writes (a reader: reads), as of the last exit or park
    std::atomic<uint64_t> io_exits_{0};
    std::atomic<uint64_t> ring_full_exits_{0};
    std::atomic<uint64_t> run_ns_{0};
    std::atomic<double> share_{0};
    std::atomic<pid_t> tid_{0};

private:
    // Sleeps until `wake` (a pause cuts it short; resumed() finishes it).
    void sleep_owed(Pacer::Clock::time_point wake);

    Pacer::Clock::time_point owed_until_{};  // the vCPU thread's only
    std::thread thread_;
    mutable std::mutex failure_mutex_;
    std::string failure_;
};

}  // namespace dtvm
