// A child process shaped like dtvm's process backend, for the CLI tests of
// per-vCPU rates: named threads ("vcpus") each write new pages of their own
// part of a buffer at a pace of their own, while the child's main thread
// harvests a UffdSource over the buffer every 50 ms, write-protecting it
// again, so each of a thread's writes is a write fault: per thread, pages
// newly dirtied. A thread never writes faster than its pace (it sleeps
// after each burst, and never catches up on lost time). A writer may also
// fault on memory nobody tracks, as a runtime's own pages do: it writes a
// scratch buffer of its own and drops its pages again (MADV_DONTNEED).
//
// Killed and reaped with the object; it also dies with the test process.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dtrack_test {

class PacedWriterChild {
public:
    struct Writer {
        std::string name;                    // its thread name (15 characters at most)
        uint64_t pages_per_s;                // its pace
        bool on_sigusr1 = false;             // started only when the child gets SIGUSR1 (a vCPU a VMM adds later)
        uint64_t untracked_pages_per_s = 0;  // write faults on its scratch buffer, beside its pace
    };
    explicit PacedWriterChild(std::vector<Writer> writers);
    ~PacedWriterChild();
    PacedWriterChild(const PacedWriterChild&) = delete;
    PacedWriterChild& operator=(const PacedWriterChild&) = delete;

    pid_t pid() const { return pid_; }
    // "" once the writers run, else why not (userfaultfd missing: skip).
    const std::string& failure() const { return failure_; }
    // The thread ids of the writers started at once, in the order given.
    const std::vector<pid_t>& tids() const { return tids_; }

private:
    pid_t pid_ = -1;
    std::string failure_;
    std::vector<pid_t> tids_;
};

}  // namespace dtrack_test
