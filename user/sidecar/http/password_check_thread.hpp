// Runs BasicAuth's password checks (bcrypt, ~60 ms each at cost 10) on a
// thread of their own, so that the server's loop never waits for one: other
// clients, and scrapers whose password was checked before, are answered
// meanwhile. Outcomes come back through an eventfd the loop polls.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "basic_auth.hpp"
#include "dtrack/unique_fd.hpp"
#include "http_connection.hpp"

namespace dtrack::cli::sidecar {

class PasswordCheckThread {
public:
    struct Job {
        uint64_t connection = 0;
        BasicAuth::PasswordCheck check;
        Clock::time_point deadline;  // the request's: a check that would start later is dropped
    };
    struct Outcome {
        uint64_t connection = 0;
        std::string key;
        bool allowed = false;
    };

    // At most `max_waiting` jobs wait; more are refused (the server answers 503).
    explicit PasswordCheckThread(size_t max_waiting);
    ~PasswordCheckThread();

    bool submit(Job job);
    // The connection closed: its job, if it still waits, is dropped.
    void cancel(uint64_t connection);
    // Readable while outcomes wait.
    int fd() const { return event_.get(); }
    std::vector<Outcome> take_outcomes();

private:
    void run();

    const size_t max_waiting_;
    UniqueFd event_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job> jobs_;
    std::vector<Outcome> outcomes_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace dtrack::cli::sidecar
