// A shell command run in the background for a test (a dtvm, a `sleep`),
// killed and reaped when the object goes.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace dtrack_test {

class BackgroundProcess {
public:
    // `command` runs under sh with exec, so pid() is the command's own PID;
    // its output is discarded.
    explicit BackgroundProcess(const std::string& command) {
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(), nullptr);
            ::_exit(127);
        }
    }
    ~BackgroundProcess() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    BackgroundProcess(const BackgroundProcess&) = delete;
    BackgroundProcess& operator=(const BackgroundProcess&) = delete;

    pid_t pid() const { return pid_; }

private:
    pid_t pid_;
};

}  // namespace dtrack_test
