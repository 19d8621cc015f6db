#include "dtvm/vm/vcpu_runner.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>

namespace dtvm {

void VcpuRunner::start(const VcpuShared& shared) {
    shared_ = shared;
    running_.store(true);
    thread_ = std::thread([this] {
        // Named as `top -H` and taskset users look for them ("CPU n/KVM" in QEMU).
        const std::string name = (role_ == VcpuRole::reader ? "reader " : "vcpu ") + std::to_string(id_);
        ::pthread_setname_np(::pthread_self(), name.c_str());
        dtrack::Status placed = dtrack::Ok{};
        if (role_ == VcpuRole::reader && shared_.reader_cpus) placed = run_here_as_reader(*shared_.reader_cpus);
        tid_.store(::gettid(), std::memory_order_release);
        tid_.notify_all();
        if (placed) run();
        else fail(placed.error().message());
        running_.store(false);
        shared_.control->thread_finished();
    });
    tid_.wait(0, std::memory_order_acquire);
}

void VcpuRunner::join() {
    if (thread_.joinable()) thread_.join();
}

VcpuStats VcpuRunner::stats() const {
    VcpuStats s;
    const uint64_t accesses = accesses_.load(std::memory_order_relaxed);
    (role_ == VcpuRole::writer ? s.writes : s.reads) = accesses;
    s.io_exits = io_exits_.load(std::memory_order_relaxed);
    s.ring_full_exits = ring_full_exits_.load(std::memory_order_relaxed);
    s.run_ns = run_ns_.load(std::memory_order_relaxed);
    return s;
}

std::string VcpuRunner::failure() const {
    std::lock_guard lock(failure_mutex_);
    return failure_;
}

void VcpuRunner::fail(std::string why) {
    std::lock_guard lock(failure_mutex_);
    if (failure_.empty()) failure_ = "vCPU " + std::to_string(id_) + ": " + std::move(why);
}

Pacer VcpuRunner::make_pacer() const { return Pacer(role_ == VcpuRole::writer ? shared_.rate_per_vcpu : 0); }

void VcpuRunner::exit_reached(Pacer& pacer, uint64_t accesses) {
    using Clock = Pacer::Clock;
    io_exits_.fetch_add(1, std::memory_order_relaxed);
    accesses_.store(accesses, std::memory_order_relaxed);
    const Clock::time_point now = Clock::now();
    double share = shared_.throttle_pct->load(std::memory_order_relaxed) / 100.0;
    if (shared_.share_at == ShareAt::slice) share = std::max(share, share_.load(std::memory_order_relaxed));
    const Clock::time_point wake = pacer.wake_time(now, accesses, share);
    if (wake > now) sleep_owed(wake);
    pacer.running(Clock::now());
}

void VcpuRunner::ring_full_reached(Pacer& pacer) {
    using Clock = Pacer::Clock;
    if (shared_.share_at != ShareAt::ring_full) return;
    const Clock::time_point now = Clock::now();
    const Clock::time_point wake = pacer.ring_full_wake_time(now, share_.load(std::memory_order_relaxed));
    if (wake <= now) return;
    sleep_owed(wake);
    pacer.running(Clock::now());
}

void VcpuRunner::sleep_owed(Pacer::Clock::time_point wake) {
    owed_until_ = wake;
    shared_.control->sleep_until(wake);
}

void VcpuRunner::resumed(Pacer& pacer, uint64_t accesses) {
    // The time parked counts as sleep: only what is left of the deadline.
    if (owed_until_ > Pacer::Clock::now()) shared_.control->sleep_until(owed_until_);
    pacer.restart(Pacer::Clock::now(), accesses);
}

}  // namespace dtvm
