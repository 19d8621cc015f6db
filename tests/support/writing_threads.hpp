// Threads of the test that write pages of a buffer when told to, each in a
// range of its own: real writers whose write faults the kernel counts per
// thread. write() hands each thread a page count, wakes them all and returns
// when every one has written; between two calls they sleep in a futex, which
// writes nothing.
//
// Before the constructor returns, each thread writes 64 KiB of stack below
// its frame and runs one empty round, so the stack it waits and reports on is
// written then, not during a measured round (glibc reuses the stacks of
// threads that ended, and one that was there at a fork is copy-on-write): a
// measured round's write faults are its pages.
#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "support/anon_buffer.hpp"

namespace dtrack_test {

class WritingThreads {
public:
    // Thread i writes pages [first_page[i], first_page[i] + count) of `buffer`.
    WritingThreads(const AnonBuffer& buffer, std::vector<uint64_t> first_page)
        : buffer_(buffer), first_(std::move(first_page)), counts_(first_.size(), 0), tids_(first_.size()) {
        for (size_t i = 0; i < first_.size(); ++i) threads_.emplace_back([this, i] { run(i); });
        write(std::vector<uint64_t>(first_.size(), 0));
    }
    ~WritingThreads() {
        stop_ = true;
        go_.fetch_add(1);
        go_.notify_all();
        for (std::thread& t : threads_) t.join();
    }
    WritingThreads(const WritingThreads&) = delete;
    WritingThreads& operator=(const WritingThreads&) = delete;

    // Thread i writes the first counts[i] pages of its range; returns when all have.
    void write(const std::vector<uint64_t>& counts) {
        counts_ = counts;
        done_ = 0;
        go_.fetch_add(1);
        go_.notify_all();
        for (int d = done_.load(); d < int(threads_.size()); d = done_.load()) done_.wait(d);
    }

    // Their thread ids (gettid()), in the order of first_page.
    std::vector<pid_t> tids() const {
        std::vector<pid_t> out;
        for (const auto& t : tids_) out.push_back(t.load());
        return out;
    }

private:
    static void write_stack_ahead() {
        volatile char ahead[64 * 1024];
        for (size_t b = 0; b < sizeof ahead; b += 4096) ahead[b] = 0;
    }

    void run(size_t i) {
        write_stack_ahead();
        tids_[i] = pid_t(::syscall(SYS_gettid));
        for (int seen = 0;;) {
            go_.wait(seen);
            seen = go_.load();
            if (stop_) return;
            for (uint64_t p = 0; p < counts_[i]; ++p) buffer_.write(first_[i] + p);
            done_.fetch_add(1);
            done_.notify_all();
        }
    }

    const AnonBuffer& buffer_;
    const std::vector<uint64_t> first_;
    std::vector<uint64_t> counts_;  // written before go_ moves, read after
    std::vector<std::atomic<pid_t>> tids_;
    std::atomic<int> go_{0}, done_{0};
    std::atomic<bool> stop_{false};
    std::vector<std::thread> threads_;
};

}  // namespace dtrack_test
