#include "sources/remote_page_reader.hpp"

#include <limits.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "dtrack/process_memory.hpp"

namespace dtrack {

RemotePageReader::RemotePageReader(pid_t pid, uint64_t page_size, uint32_t pages_per_call)
    : pid_(pid),
      page_size_(page_size),
      pages_per_call_(std::max<uint32_t>(1, pages_per_call)),
      buffer_(size_t(pages_per_call_) * page_size) {}

Result<RemotePageReader::Stats> RemotePageReader::read(std::span<const Run> runs, const PageFn& on_page,
                                                       const SkipFn& on_unreadable) {
    Stats stats;
    std::vector<Piece> pieces;
    std::vector<iovec> remote;
    // The next page to read: page `page` of run `run`.
    size_t run = 0;
    uint64_t page = 0;
    auto skip_empty_runs = [&] {
        while (run < runs.size() && page >= runs[run].pages) ++run, page = 0;
    };
    skip_empty_runs();
    while (run < runs.size()) {
        // A batch: up to pages_per_call_ pages in at most IOV_MAX remote pieces.
        pieces.clear();
        remote.clear();
        uint64_t batch = 0;
        for (size_t r = run, p = page; r < runs.size() && batch < pages_per_call_ && pieces.size() < IOV_MAX;
             ++r, p = 0) {
            const uint64_t count = std::min<uint64_t>(runs[r].pages - p, pages_per_call_ - batch);
            if (count == 0) continue;
            pieces.push_back({r, p, count});
            remote.push_back({reinterpret_cast<void*>(runs[r].address + p * page_size_), count * page_size_});
            batch += count;
        }
        iovec local{buffer_.data(), batch * page_size_};
        ssize_t n;
        do n = ::process_vm_readv(pid_, &local, 1, remote.data(), remote.size(), 0);
        while (n < 0 && errno == EINTR);
        ++stats.calls;
        if (n < 0) {
            const int err = errno;
            if (err == ESRCH) return process_exited_error(pid_);
            if (err == EPERM || err == EACCES) return no_access_error(pid_, "process_vm_readv", err);
            if (err != EFAULT) return errno_error("process_vm_readv of process " + std::to_string(pid_), err);
            n = 0;  // EFAULT: not even the first page could be read
        }

        // The pages copied are the first n / page_size of the batch, in order.
        uint64_t copied = uint64_t(n) / page_size_;
        const uint8_t* bytes = buffer_.data();
        for (const Piece& piece : pieces) {
            const uint64_t here = std::min(copied, piece.count);
            for (uint64_t i = 0; i < here; ++i, bytes += page_size_) on_page(piece.run, piece.first + i, bytes);
            stats.pages_read += here;
            copied -= here;
            page = piece.first + here;
            run = piece.run;
            if (here < piece.count) break;  // the read stopped inside this piece
        }
        if (uint64_t(n) / page_size_ < batch) {
            // Stopped at page `page` of run `run`: it cannot be read now.
            on_unreadable(run, page);
            ++stats.unreadable;
            ++page;
        }
        skip_empty_runs();
    }
    return stats;
}

}  // namespace dtrack
