// ThreadWriteFaultsProgram: bpf/thread_write_faults.bpf.c in this process.
// RAII over its skeleton, in the steps DirtyRingProgram takes:
//
//   auto p = ThreadWriteFaultsProgram::open();    // parse the object; nothing in the kernel yet
//   p->configure(tgid, max_threads, family);      // target, map size, which entry point loads
//   p->load();                                     // the verifier; the map is created here
//   p->attach();                                   // hooks exceptions:page_fault_user
//
// then the counts, read from the map (one lookup per thread) and the totals
// (mapped .bss, no syscall). Internal to lib/ (ThreadWriteFaults) and the tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "dtrack/error.hpp"
#include "sources/tracepoint_hooks.hpp"
#include "thread_write_faults.h"  // bpf/: the totals, shared with the BPF program

struct thread_write_faults_bpf;
struct bpf_link;

namespace dtrack {

class ThreadWriteFaultsProgram {
public:
    static Result<std::unique_ptr<ThreadWriteFaultsProgram>> open();
    ~ThreadWriteFaultsProgram();
    ThreadWriteFaultsProgram(const ThreadWriteFaultsProgram&) = delete;
    ThreadWriteFaultsProgram& operator=(const ThreadWriteFaultsProgram&) = delete;

    // Before load: the target (as the initial PID namespace numbers it), how
    // many threads the map holds, which entry point loads, and the ranges
    // whose faults count (sorted, disjoint, at most DTRACK_MAX_FAULT_RANGES;
    // none: all).
    Status configure(pid_t target_tgid, uint32_t max_threads, HookFamily family,
                     const std::vector<dtrack_fault_range>& ranges = {});
    Status load();
    // Hooks exceptions:page_fault_user; ENOENT (not x86) says so.
    Status attach();

    HookFamily family() const { return family_; }

    // --- after load -------------------------------------------------------------
    uint64_t count(pid_t tid) const;           // 0 for a thread with no write fault
    std::map<pid_t, uint64_t> counts() const;  // every thread that took one
    dtrack_thread_write_fault_totals totals() const;
    // The loaded program (for BPF_PROG_TEST_RUN), or -1.
    int program_fd() const;

private:
    ThreadWriteFaultsProgram() = default;

    thread_write_faults_bpf* skeleton_ = nullptr;
    HookFamily family_ = HookFamily::raw_tracepoint;
    bool loaded_ = false;
    bpf_link* link_ = nullptr;
};

}  // namespace dtrack
