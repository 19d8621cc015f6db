// ThreadWriteFaults: how many write faults each thread of a process took, as
// the kernel counts them, for per-vCPU dirty rates where vCPUs are threads.
//
// A write fault is a thread's first write to a page that is not writable for
// it yet. Where a tracker write-protects memory again at each harvest
// (UffdSource: userfaultfd WP_ASYNC with PAGEMAP_SCAN), a thread's write
// faults between two harvests are the pages of that memory it newly dirtied:
// what the KVM dirty ring's entries are per vCPU. dtvm's process backend runs
// each vCPU as a thread over such memory, so this is its per-vCPU figure;
// ThreadWriteFaultSource (thread_write_fault_source.hpp) feeds it to a Tracker.
//
//   auto faults = dtrack::ThreadWriteFaults::attach(getpid());
//   if (!faults) { puts(faults.error().message().c_str()); ... }
//   ... (*faults)->count(tid); (*faults)->counts(); ...
//
// A BPF program (bpf/thread_write_faults.bpf.c) on exceptions:page_fault_user
// (x86), filtered on the process, adds the faults with the write bit
// (error_code bit 1) at an address in `ranges` (the memory a tracker
// re-protects; all of it when none are given) under the faulting thread's id
// in a hash map of `max_threads` entries. Faults outside the ranges are
// counted in totals().outside_ranges only. A thread the full map has no room for is counted in
// totals().unattributed, never dropped silently. Entries are never removed:
// a thread's count stays after it exits (and a reused thread id counts on).
//
// What a write fault is not: a write (later writes to the page do not fault
// until it is protected again), nor always a tracked page. A thread also
// faults when it first touches new memory (its stack, a fresh malloc arena, a
// sanitizer's shadow) or writes to a page shared copy-on-write: give the
// tracked memory as `ranges` to leave those out. The kernel may fault twice
// on one page (a write racing a re-protection). Writes the kernel makes on the
// process's behalf (read(2) into its buffer) take no user fault. For a
// process nothing write-protects, write faults count only first touches and
// copy-on-write.
//
// Hooks: raw tracepoints first (by name; no tracefs); when the kernel refuses
// them, the classic tracepoint, mounting tracefs at /sys/kernel/tracing if
// nothing is mounted (notes() says so). Needs root or CAP_BPF+CAP_PERFMON,
// and the host's PID namespace (the tracepoint numbers threads as it does).
// The counts are read through the map (one syscall per thread), from any
// thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dtrack/bpf_hooks.hpp"
#include "dtrack/error.hpp"
#include "dtrack/region.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

class DTRACK_INTERNAL ThreadWriteFaultsProgram;  // internal to the library

struct ThreadWriteFaultsOptions {
    BpfHooks hooks = BpfHooks::automatic;
    uint32_t max_threads = 4096;  // threads the map holds; later ones are counted in totals().unattributed
    // Only write faults at these addresses count per thread (overlapping and
    // adjacent ones are merged; at most max_ranges after that); none: every
    // write fault counts. Fixed at attach.
    std::vector<AddressRange> ranges;
    static constexpr size_t max_ranges = 64;
};

// The process's write faults, all threads together. Only grow.
struct ThreadWriteFaultTotals {
    uint64_t write_faults = 0;    // every write fault of the process since attach
    uint64_t unattributed = 0;    // of those, faults of threads the full map had no room for
    uint64_t outside_ranges = 0;  // of those, faults outside the ranges, not counted per thread
};

class ThreadWriteFaults {
public:
    // Loads and attaches the program for process `pid` (a process id, as
    // getpid() gives it; its threads are counted by their thread ids, as
    // gettid() gives them). Loads nothing when the process does not exist,
    // this process may not load BPF or runs in a PID namespace of its own;
    // a kernel without the tracepoint (not x86) is an Error naming it, and
    // so are ranges that are empty or more than max_ranges.
    static Result<std::unique_ptr<ThreadWriteFaults>> attach(pid_t pid, ThreadWriteFaultsOptions options = {});
    ~ThreadWriteFaults();
    ThreadWriteFaults(const ThreadWriteFaults&) = delete;
    ThreadWriteFaults& operator=(const ThreadWriteFaults&) = delete;

    pid_t pid() const { return pid_; }
    // "raw tracepoints" or "tracepoints".
    std::string hooked_with() const;
    // What a user should know about the attach: the fallback taken, a tracefs mount.
    const std::vector<std::string>& notes() const { return notes_; }

    // Write faults of thread `tid` since attach (0 if it took none). Only grows.
    uint64_t count(pid_t tid) const;
    // Every thread that took a write fault since attach, by thread id.
    std::map<pid_t, uint64_t> counts() const;
    ThreadWriteFaultTotals totals() const;

private:
    ThreadWriteFaults(pid_t pid, std::unique_ptr<ThreadWriteFaultsProgram> program, std::vector<std::string> notes);

    pid_t pid_;
    std::unique_ptr<ThreadWriteFaultsProgram> program_;
    std::vector<std::string> notes_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
