#include "support/paced_writer_child.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include "dtrack/tracker.hpp"
#include "dtrack/uffd_source.hpp"

namespace dtrack_test {

namespace {

constexpr uint64_t page_size = 4096;
constexpr uint64_t pages_per_writer = 8192;  // 32 MiB: more than a writer dirties between two harvests
constexpr auto burst = std::chrono::milliseconds(10);

// What the child sends its parent: a status, then the writers' thread ids.
struct Report {
    char failure[240] = {};
    pid_t tids[8] = {};
};

// Pages per burst at `pages_per_s`.
uint64_t burst_pages(uint64_t pages_per_s) { return pages_per_s * burst.count() / 1000; }

// Writes `pages` of `scratch` and drops them again, so that each write faults.
void fault_untracked(char* scratch, uint64_t pages) {
    for (uint64_t i = 0; i < pages; ++i) *reinterpret_cast<volatile char*>(scratch + i * page_size) = 1;
    ::madvise(scratch, pages * page_size, MADV_DONTNEED);
}

void write_paced(char* part, const PacedWriterChild::Writer& w) {
    const uint64_t per_burst = std::max<uint64_t>(1, burst_pages(w.pages_per_s));
    const uint64_t untracked = burst_pages(w.untracked_pages_per_s);
    char* scratch = nullptr;
    if (untracked) {
        void* p = ::mmap(nullptr, untracked * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        scratch = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
        if (scratch) ::madvise(scratch, untracked * page_size, MADV_NOHUGEPAGE);  // a fault per page
    }
    for (uint64_t next = 0;;) {
        for (uint64_t i = 0; i < per_burst; ++i, next = (next + 1) % pages_per_writer)
            *reinterpret_cast<volatile char*>(part + next * page_size) = 1;
        if (scratch) fault_untracked(scratch, untracked);
        std::this_thread::sleep_for(burst);
    }
}

[[noreturn]] void run_child(const std::vector<PacedWriterChild::Writer>& writers, int report_fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    Report report;
    const auto fail = [&](const std::string& why) {
        std::strncpy(report.failure, why.c_str(), sizeof report.failure - 1);
        (void)!::write(report_fd, &report, sizeof report);
        ::_exit(1);
    };
    const uint64_t bytes = writers.size() * pages_per_writer * page_size;
    void* memory = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) fail("mmap failed");
    std::memset(memory, 0, bytes);
    dtrack::Tracker tracker;
    const dtrack::RegionId id = tracker
                                    .add_region({.name = "vcpus",
                                                 .space = dtrack::AddressSpace::host_virtual,
                                                 .base = reinterpret_cast<uint64_t>(memory),
                                                 .page_size = page_size,
                                                 .page_count = bytes / page_size})
                                    .value();
    auto uffd = dtrack::UffdSource::track(tracker, id);
    if (!uffd) fail(uffd.error().message());
    tracker.add_source(std::move(*uffd));

    // SIGUSR1 is waited for by the main thread only.
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ::pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
    std::vector<std::atomic<pid_t>> tids(writers.size());
    const auto start = [&](size_t w) {
        std::thread([&, w] {
            ::pthread_setname_np(::pthread_self(), writers[w].name.c_str());
            tids[w] = pid_t(::syscall(SYS_gettid));
            write_paced(static_cast<char*>(memory) + w * pages_per_writer * page_size, writers[w]);
        }).detach();
    };
    for (size_t w = 0; w < writers.size(); ++w)
        if (!writers[w].on_sigusr1) start(w);
    for (size_t w = 0; w < writers.size(); ++w) {
        while (!writers[w].on_sigusr1 && !tids[w]) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        report.tids[w] = tids[w];
    }
    if (::write(report_fd, &report, sizeof report) != sizeof report) ::_exit(1);
    const timespec harvest_period{0, 50'000'000};
    for (;;) {
        if (::sigtimedwait(&usr1, nullptr, &harvest_period) == SIGUSR1)
            for (size_t w = 0; w < writers.size(); ++w)
                if (writers[w].on_sigusr1 && !tids[w]) start(w);
        (void)tracker.sync();  // re-protects what was written; the bits are never taken
    }
}

}  // namespace

PacedWriterChild::PacedWriterChild(std::vector<Writer> writers) {
    if (writers.size() > std::size(Report{}.tids)) {
        failure_ = "at most 8 writers";
        return;
    }
    int fds[2];
    if (::pipe(fds) != 0) {
        failure_ = "pipe failed";
        return;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
        ::close(fds[0]);
        run_child(writers, fds[1]);
    }
    ::close(fds[1]);
    Report report;
    if (pid_ < 0 || ::read(fds[0], &report, sizeof report) != sizeof report) failure_ = "the child did not report";
    else if (report.failure[0]) failure_ = report.failure;
    else
        for (size_t w = 0; w < writers.size(); ++w)
            if (!writers[w].on_sigusr1) tids_.push_back(report.tids[w]);
    ::close(fds[0]);
}

PacedWriterChild::~PacedWriterChild() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

}  // namespace dtrack_test
