#include "process_vcpu.hpp"

#include <atomic>

#include "guest_abi.hpp"
#include "workload_cursor.hpp"

namespace dtvm {
namespace {

uint64_t nanoseconds_since(Pacer::Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Pacer::Clock::now() - t).count();
}

}  // namespace

uint64_t ProcessVcpu::stamp() const { return params_.read(guest_abi::kParamEpoch) << 8 | id_; }

void ProcessVcpu::run() {
    using Clock = Pacer::Clock;
    RunControl& control = *shared_.control;
    WorkloadCursor cursor(params_);
    uint64_t writes = params_.read(guest_abi::kParamWrites);
    // 0 = never exit again, as in guest.S (its countdown wraps)
    auto countdown = [this] { const uint64_t k = params_.read(guest_abi::kParamExitEvery); return k ? k : ~0ULL; };
    uint64_t until_exit = countdown();
    uint64_t value = stamp();
    Pacer pacer(shared_.rate_per_vcpu);
    pacer.restart(Clock::now(), writes);
    Clock::time_point ran_since = Clock::now();

    for (;;) {
        if (control.attention()) {
            // Between two whole writes: a consistent point to park at.
            writes_.store(writes, std::memory_order_relaxed);
            run_ns_.fetch_add(nanoseconds_since(ran_since), std::memory_order_relaxed);
            const RunControl::Next next = control.checkpoint();
            if (next == RunControl::Next::stop) return;
            if (next == RunControl::Next::resumed) {
                value = stamp();  // the epoch may have changed
                pacer.restart(Clock::now(), writes);
            }
            ran_since = Clock::now();
        }
        auto* word = reinterpret_cast<uint64_t*>(ram_ + cursor.next_gpa());
        std::atomic_ref<uint64_t>(*word).store(value, std::memory_order_relaxed);
        ++writes;
        if (--until_exit == 0) {
            params_.write(guest_abi::kParamWrites, writes);
            run_ns_.fetch_add(nanoseconds_since(ran_since), std::memory_order_relaxed);
            exit_reached(pacer, writes);
            ran_since = Clock::now();
            until_exit = countdown();
            value = stamp();
        }
    }
}

}  // namespace dtvm
