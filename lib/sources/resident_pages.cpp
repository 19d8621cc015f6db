#include "sources/resident_pages.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "common/linux_compat.h"
#include "dtrack/process_memory.hpp"

namespace dtrack {
namespace {

constexpr size_t runs_per_call = 512;         // PAGEMAP_SCAN output records per call
constexpr size_t entries_per_read = 1 << 15;  // fallback: 256 KiB of pagemap entries per pread
constexpr uint64_t pm_swapped = 1ULL << 62;

void append(std::vector<ResidentRun>& out, uint64_t start, uint64_t end, Residency r) {
    if (!out.empty() && out.back().end == start && out.back().residency == r) out.back().end = end;
    else out.push_back({start, end, r});
}

}  // namespace

Result<ResidentPages> ResidentPages::open(pid_t pid, uint64_t page_size, bool entries_only) {
    const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ENOENT || err == ESRCH) return no_process_error(pid);
        if (err == EACCES || err == EPERM) return no_access_error(pid, "open " + path, err);
        return errno_error("open " + path, err, "mount /proc");
    }
    ResidentPages pages(pid, std::move(fd), page_size);
    pages.use_scan_ = !entries_only;
    return pages;
}

Status ResidentPages::scan(uint64_t start, uint64_t end, std::vector<ResidentRun>& out) {
    if (use_scan_) {
        Status s = scan_ioctl(start, end, out);
        if (s || !(s.error().errno_value == ENOTTY || s.error().errno_value == EINVAL)) return s;
        use_scan_ = false;  // no PAGEMAP_SCAN here: read the entries
    }
    return scan_entries(start, end, out);
}

Status ResidentPages::scan_ioctl(uint64_t start, uint64_t end, std::vector<ResidentRun>& out) {
    page_region runs[runs_per_call];
    for (uint64_t at = start; at < end;) {
        pm_scan_arg arg{};
        arg.size = sizeof arg;
        arg.start = at;
        arg.end = end;
        arg.vec = reinterpret_cast<uint64_t>(runs);
        arg.vec_len = runs_per_call;
        arg.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
        arg.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_PFNZERO;
        int n;
        do n = ::ioctl(pagemap_.get(), PAGEMAP_SCAN, &arg);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            const int err = errno;
            if (err == ESRCH) return process_exited_error(pid_);
            return errno_error("ioctl(PAGEMAP_SCAN) on /proc/" + std::to_string(pid_) + "/pagemap", err);
        }
        for (int i = 0; i < n; ++i) {
            const uint64_t c = runs[i].categories;
            const Residency r = (c & PAGE_IS_SWAPPED) && !(c & PAGE_IS_PRESENT) ? Residency::swapped
                                : (c & PAGE_IS_PFNZERO)                         ? Residency::zero
                                                                                : Residency::present;
            append(out, runs[i].start, runs[i].end, r);
        }
        if (arg.walk_end <= at) return Error{EIO, "PAGEMAP_SCAN made no progress", "report this as a dtrack bug"};
        at = arg.walk_end;
    }
    return Ok{};
}

Status ResidentPages::scan_entries(uint64_t start, uint64_t end, std::vector<ResidentRun>& out) {
    std::vector<uint64_t> entries(entries_per_read);
    for (uint64_t page = start / page_size_; page < end / page_size_;) {
        const uint64_t want = std::min<uint64_t>(entries_per_read, end / page_size_ - page);
        const ssize_t got = ::pread(pagemap_.get(), entries.data(), want * 8, off_t(page * 8));
        if (got < 0) {
            if (errno == ESRCH) return process_exited_error(pid_);
            return errno_error("read /proc/" + std::to_string(pid_) + "/pagemap", errno);
        }
        if (got == 0) return Ok{};  // past the end of the address space
        for (uint64_t i = 0; i < uint64_t(got) / 8; ++i) {
            const uint64_t e = entries[i], at = (page + i) * page_size_;
            if (e & DTRACK_PM_PRESENT) append(out, at, at + page_size_, Residency::present);
            else if (e & pm_swapped) append(out, at, at + page_size_, Residency::swapped);
        }
        page += uint64_t(got) / 8;
    }
    return Ok{};
}

}  // namespace dtrack
