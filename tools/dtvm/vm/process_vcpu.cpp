#include "dtvm/vm/process_vcpu.hpp"

#include <atomic>

#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/page_fill.hpp"
#include "dtvm/guest/workload_cursor.hpp"

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
    PageFill fill(params_);
    const bool reader = role() == VcpuRole::reader;
    uint64_t accesses = params_.read(guest_abi::kParamWrites);  // writes, or a reader's reads (one slot)
    uint64_t loaded_sum = 0;
    // 0 = never exit again, as in guest.S (its countdown wraps)
    auto countdown = [this] {
        const uint64_t k = params_.read(guest_abi::kParamExitEvery);
        return k ? k : ~0ULL;
    };
    uint64_t until_exit = countdown();
    uint64_t value = stamp();
    Pacer pacer = make_pacer();
    pacer.restart(Clock::now(), accesses);
    Clock::time_point ran_since = Clock::now();

    for (;;) {
        if (control.attention()) {
            // Between two whole writes: a consistent point to park at.
            accesses_.store(accesses, std::memory_order_relaxed);
            run_ns_.fetch_add(nanoseconds_since(ran_since), std::memory_order_relaxed);
            const RunControl::Next next = control.checkpoint();
            if (next == RunControl::Next::stop) return;
            if (next == RunControl::Next::resumed) {
                value = stamp();  // the epoch may have changed
                resumed(pacer, accesses);
            }
            ran_since = Clock::now();
        }
        uint8_t* page = ram_ + cursor.next_gpa();
        auto* word = reinterpret_cast<uint64_t*>(page);
        if (reader) {
            loaded_sum += std::atomic_ref<uint64_t>(*word).load(std::memory_order_relaxed);
        } else {
            fill.fill(page);  // the random words first, the stamp last, as guest.S
            std::atomic_ref<uint64_t>(*word).store(value, std::memory_order_relaxed);
        }
        ++accesses;
        if (--until_exit == 0) {
            params_.write(guest_abi::kParamWrites, accesses);
            loaded_sum_.store(loaded_sum, std::memory_order_relaxed);
            run_ns_.fetch_add(nanoseconds_since(ran_since), std::memory_order_relaxed);
            exit_reached(pacer, accesses);
            ran_since = Clock::now();
            until_exit = countdown();
            value = stamp();
        }
    }
}

}  // namespace dtvm
