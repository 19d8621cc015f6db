#include "interval_clock.hpp"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "commands.hpp"

#include "dtrack/target_process.hpp"

namespace dtrack::cli {

namespace {
std::atomic<bool> interrupt_seen{false};
}

void catch_interrupts() {
    ::signal(SIGINT, [](int) { interrupt_seen = true; });
    ::signal(SIGTERM, [](int) { interrupt_seen = true; });
}

bool interrupted() { return interrupt_seen; }

Tick wait_until(std::chrono::steady_clock::time_point deadline, pid_t pid) {
    using clock = std::chrono::steady_clock;
    while (clock::now() < deadline && !interrupt_seen && process_alive(pid))
        std::this_thread::sleep_for(
            std::min<std::chrono::nanoseconds>(deadline - clock::now(), std::chrono::milliseconds(50)));
    if (interrupt_seen) return Tick::interrupted;
    if (!process_alive(pid)) return Tick::exited;
    return Tick::due;
}

int measure_every(std::chrono::nanoseconds interval, pid_t pid, const char* command, const char* ended,
                  const std::function<bool()>& more, const std::function<Status()>& measure) {
    auto next = std::chrono::steady_clock::now();
    const auto exited = [&] {
        std::fprintf(stderr, "%s: process %d exited; %s\n", command, pid, ended);
        return exit_ok;
    };
    while (more()) {
        next += interval;
        const Tick tick = wait_until(next, pid);
        if (tick == Tick::interrupted) return exit_ok;
        if (tick == Tick::exited) return exited();
        if (Status s = measure(); !s) {
            if (!process_alive(pid) || s.error().errno_value == ESRCH) return exited();
            std::fprintf(stderr, "%s: %s\n", command, s.error().message().c_str());
            return exit_failure;
        }
    }
    return exit_ok;
}

}  // namespace dtrack::cli
