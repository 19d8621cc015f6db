// RemotePageReader: reads pages of another process with process_vm_readv,
// many pages per call (one remote iovec per contiguous piece, one local
// buffer), for SampleSource.
//
// process_vm_readv stops at the first page it cannot read and returns how
// many bytes it copied, so a page that was unmapped (or made unreadable)
// under us costs one extra call: it is skipped and reported, not an error.
// Errors are what ends a harvest: the process exited (errno ESRCH), or we
// may not read it (EPERM; the message says which rule refused).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "dtrack/error.hpp"

namespace dtrack {

class RemotePageReader {
public:
    // `pages` pages from `address` on.
    struct Run {
        uint64_t address = 0;
        uint64_t pages = 0;
    };
    struct Stats {
        uint64_t pages_read = 0;
        uint64_t unreadable = 0;  // unmapped (or not readable) pages skipped
        uint64_t calls = 0;       // process_vm_readv calls
    };
    // (run index, page index within the run, the page's bytes)
    using PageFn = std::function<void(size_t run, uint64_t page, const uint8_t* bytes)>;
    // (run index, page index within the run) of a page that could not be read
    using SkipFn = std::function<void(size_t run, uint64_t page)>;

    RemotePageReader(pid_t pid, uint64_t page_size, uint32_t pages_per_call);

    // Reads every page of `runs` in order.
    Result<Stats> read(std::span<const Run> runs, const PageFn& on_page, const SkipFn& on_unreadable);

private:
    // One contiguous piece of a batch: pages [first, first + count) of run `run`.
    struct Piece {
        size_t run;
        uint64_t first;
        uint64_t count;
    };

    pid_t pid_;
    uint64_t page_size_;
    uint32_t pages_per_call_;
    std::vector<uint8_t> buffer_;  // pages_per_call_ pages: where one call copies to
};

}  // namespace dtrack
