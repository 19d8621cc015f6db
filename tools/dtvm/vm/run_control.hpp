// RunControl: how the VMM thread pauses, resumes and stops the vCPU threads.
//
// A vCPU thread calls checkpoint() whenever it is out of KVM_RUN at a
// consistent point (an exit, or a kick); that is where it parks while a pause
// is requested. The VMM side requests, then waits until every live vCPU
// thread is parked (a thread that has ended is not waited for).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace dtvm {

class RunControl {
public:
    using Clock = std::chrono::steady_clock;
    enum class Next {
        run,      // nothing asked: go on
        resumed,  // was parked, now resumed: go on (time has passed)
        stop,     // end the thread
    };

    explicit RunControl(uint32_t threads) : live_(threads) {}

    // --- vCPU threads ---------------------------------------------------------
    // True when a pause or stop is pending; lock-free, for every exit.
    bool attention() const { return attention_.load(std::memory_order_acquire); }
    // Parks while a pause is requested.
    Next checkpoint();
    // Sleeps until `until`, or less if a pause or stop comes first.
    void sleep_until(Clock::time_point until);
    // The thread is ending (after a stop, or a failure).
    void thread_finished();

    // --- the VMM thread -------------------------------------------------------
    void request_pause();
    // True once every live thread is parked; false after `timeout`.
    bool wait_parked(std::chrono::milliseconds timeout);
    void resume();
    void request_stop();

private:
    std::mutex mutex_;
    std::condition_variable changed_;  // any field below changed
    bool pause_ = false;
    bool stop_ = false;
    uint32_t live_;
    uint32_t parked_ = 0;
    std::atomic<bool> attention_{false};  // pause_ || stop_
};

}  // namespace dtvm
