// The measuring commands' beat (rate, record): sleep to the next interval's
// end in short steps, so Ctrl-C or the target's exit ends a run within about
// 50 ms, never later than one interval.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>

#include "dtrack/error.hpp"

namespace dtrack::cli {

enum class Tick {
    due,          // the interval is over: measure
    interrupted,  // SIGINT or SIGTERM
    exited,       // the target process is gone
};

// Installs the SIGINT/SIGTERM handlers that interrupt the waits below.
void catch_interrupts();
bool interrupted();

// Waits until `deadline`, watching for an interrupt and for `pid` to exit.
Tick wait_until(std::chrono::steady_clock::time_point deadline, pid_t pid);

// The measuring loop: at the end of each interval calls `measure`, while
// `more()` says so, until an interrupt or the target's exit (said on stderr
// as "<command>: process N exited; <ended>"). A failed measurement of a
// target that is gone is its exit; any other failure is printed and ends the
// loop with exit_failure. Returns exit_ok otherwise.
int measure_every(std::chrono::nanoseconds interval, pid_t pid, const char* command, const char* ended,
                  const std::function<bool()>& more, const std::function<Status()>& measure);

}  // namespace dtrack::cli
