#include "password_check_thread.hpp"

#include <openssl/crypto.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

namespace dtrack::cli::sidecar {

PasswordCheckThread::PasswordCheckThread(size_t max_waiting)
    : max_waiting_(max_waiting), event_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), thread_([this] { run(); }) {}

PasswordCheckThread::~PasswordCheckThread() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

bool PasswordCheckThread::submit(Job job) {
    {
        std::lock_guard lock(mutex_);
        if (jobs_.size() >= max_waiting_) return false;
        jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return true;
}

void PasswordCheckThread::cancel(uint64_t connection) {
    std::lock_guard lock(mutex_);
    std::erase_if(jobs_, [connection](const Job& j) { return j.connection == connection; });
}

std::vector<PasswordCheckThread::Outcome> PasswordCheckThread::take_outcomes() {
    uint64_t n;
    (void)!::read(event_.get(), &n, sizeof n);
    std::lock_guard lock(mutex_);
    return std::exchange(outcomes_, {});
}

void PasswordCheckThread::run() {
    // bcrypt is all CPU: at a lower priority than the server's loop, a client
    // that sends wrong password after wrong password takes at most this
    // thread's core, and takes it from the loop last.
    ::setpriority(PRIO_PROCESS, ::gettid(), 10);
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        Job job = std::move(jobs_.front());
        jobs_.pop_front();
        if (Clock::now() >= job.deadline) continue;  // its connection is closed by now
        lock.unlock();
        const bool allowed = job.check.passes();
        OPENSSL_cleanse(job.check.password.data(), job.check.password.size());
        lock.lock();
        outcomes_.push_back({job.connection, job.check.key, allowed});
        const uint64_t one = 1;
        (void)!::write(event_.get(), &one, sizeof one);
    }
}

}  // namespace dtrack::cli::sidecar
