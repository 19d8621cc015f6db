// Runs one probe step in a forked child, so that whatever the step does to
// its process (mount namespace, clear_refs) stays out of the caller's.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "probe/probes.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack::probe {
namespace {

// The child's own mount namespace with tracefs at its usual place. Mounts are
// made private first so nothing propagates back to the parent namespace.
Outcome enter_private_tracefs() {
    auto failure = [](const char* step) {
        int err = errno;
        std::string text = "tracefs is not mounted, and mounting it privately failed: " + errno_error(step, err).what;
        if (err == EPERM) text += " (needs CAP_SYS_ADMIN)";
        return Outcome{false, text};
    };
    if (::unshare(CLONE_NEWNS) != 0) return failure("unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return failure("mount(MS_REC|MS_PRIVATE)");
    if (::mount("tracefs", "/sys/kernel/tracing", "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0)
        return failure("mount -t tracefs tracefs /sys/kernel/tracing");
    return {true, ""};
}

void write_all(int fd, const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        done += static_cast<std::size_t>(n);
    }
}

std::string read_all(int fd) {
    std::string data;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return data;
        data.append(buf, static_cast<std::size_t>(n));
    }
}

}  // namespace

Outcome run_in_child(const std::function<Outcome()>& work, ChildSetup setup) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return {false, errno_error("pipe2", errno).what};
    UniqueFd read_end(fds[0]), write_end(fds[1]);

    pid_t pid = ::fork();
    if (pid < 0) return {false, errno_error("fork", errno).what};
    if (pid == 0) {
        // Child: one '1'/'0' byte for ok, then the text. _exit skips the
        // parent's atexit handlers and stdio buffers.
        read_end.reset();
        Outcome outcome{true, ""};
        if (setup == ChildSetup::private_tracefs) outcome = enter_private_tracefs();
        if (outcome.ok) outcome = work();
        write_all(write_end.get(), (outcome.ok ? "1" : "0") + outcome.text);
        ::_exit(0);
    }

    write_end.reset();
    std::string message = read_all(read_end.get());
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (message.empty()) {
        if (WIFSIGNALED(status)) {
            const char* name = ::sigabbrev_np(WTERMSIG(status));
            return {false, "probe child was killed by signal " +
                               (name ? std::string("SIG") + name : std::to_string(WTERMSIG(status)))};
        }
        return {false, "probe child exited without a result"};
    }
    return {message[0] == '1', message.substr(1)};
}

}  // namespace dtrack::probe
