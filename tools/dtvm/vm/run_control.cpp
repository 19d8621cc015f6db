#include "dtvm/vm/run_control.hpp"

namespace dtvm {

RunControl::Next RunControl::checkpoint() {
    std::unique_lock lock(mutex_);
    if (stop_) return Next::stop;
    if (!pause_) return Next::run;
    ++parked_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !pause_ || stop_; });
    --parked_;
    return stop_ ? Next::stop : Next::resumed;
}

void RunControl::sleep_until(Clock::time_point until) {
    std::unique_lock lock(mutex_);
    changed_.wait_until(lock, until, [&] { return pause_ || stop_; });
}

void RunControl::thread_finished() {
    std::lock_guard lock(mutex_);
    --live_;
    changed_.notify_all();
}

void RunControl::request_pause() {
    std::lock_guard lock(mutex_);
    pause_ = true;
    attention_.store(true, std::memory_order_release);
    changed_.notify_all();
}

bool RunControl::wait_parked(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return parked_ == live_; });
}

void RunControl::resume() {
    std::lock_guard lock(mutex_);
    pause_ = false;
    attention_.store(stop_, std::memory_order_release);
    changed_.notify_all();
}

void RunControl::request_stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
    attention_.store(true, std::memory_order_release);
    changed_.notify_all();
}

}  // namespace dtvm
