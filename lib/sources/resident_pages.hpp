// ResidentPages: which pages of a process hold memory, learned without
// touching them, so that SampleSource reads only what is there.
//
// Reading a page another process never touched is not free for it:
// process_vm_readv faults it in, and where the memory is backed by
// transparent huge pages the kernel allocates and zeroes 2 MiB for it. A
// sampler that reads untouched guest memory grows the VM it measures (seen on
// QEMU: +1.8 GiB). So before each harvest this asks the kernel, per range,
// which pages are present, which are swapped out, and which map the shared
// zero page, and SampleSource reads only present, non-zero pages.
//
// How: one PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7+) returns runs
// of pages by category; where it is missing, the 64-bit pagemap entries are
// read instead (bit 63 present, bit 62 swapped; the zero page cannot be told
// apart there, so it counts as present: reading it allocates nothing).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack {

enum class Residency : uint8_t {
    present,  // a page of its own: read it
    zero,     // maps the shared zero page (read of untouched memory): reads as zeros
    swapped,  // swapped out: reading would swap it in
};

// Pages [start, end) (byte addresses, page-aligned) of one residency.
struct ResidentRun {
    uint64_t start = 0;
    uint64_t end = 0;
    Residency residency = Residency::present;
};

class ResidentPages {
public:
    // Opens /proc/PID/pagemap (the ptrace read check applies, as for
    // /proc/PID/maps). `entries_only` skips PAGEMAP_SCAN (for tests of the
    // fallback).
    static Result<ResidentPages> open(pid_t pid, uint64_t page_size, bool entries_only = false);

    // Appends the runs of [start, end) that hold memory, in address order;
    // pages absent from the result are not mapped in (they read as zeros).
    Status scan(uint64_t start, uint64_t end, std::vector<ResidentRun>& out);

    // "PAGEMAP_SCAN" or "pagemap entries" (the fallback).
    const char* method() const { return use_scan_ ? "PAGEMAP_SCAN" : "pagemap entries"; }

private:
    ResidentPages(pid_t pid, UniqueFd pagemap, uint64_t page_size)
        : pid_(pid), pagemap_(std::move(pagemap)), page_size_(page_size) {}
    Status scan_ioctl(uint64_t start, uint64_t end, std::vector<ResidentRun>& out);
    Status scan_entries(uint64_t start, uint64_t end, std::vector<ResidentRun>& out);

    pid_t pid_;
    UniqueFd pagemap_;
    uint64_t page_size_;
    bool use_scan_ = true;  // until the kernel says it has no PAGEMAP_SCAN
};

}  // namespace dtrack
