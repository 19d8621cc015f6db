#include "support/terminal_run.hpp"

#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace dtrack_test {

CommandResult run_on_terminal(const std::string& command_line) {
    CommandResult result;
    struct winsize size {};
    size.ws_row = 50, size.ws_col = 250;
    int terminal = -1;
    const pid_t pid = ::forkpty(&terminal, nullptr, nullptr, &size);
    if (pid < 0) return result;
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", command_line.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    // Read until the child's side closes (EIO on Linux); a safety net of a
    // minute against a hung child, not a measurement.
    char buf[4096];
    for (;;) {
        struct pollfd p {
            terminal, POLLIN, 0
        };
        if (::poll(&p, 1, 60'000) <= 0) {
            ::kill(pid, SIGKILL);
            break;
        }
        const ssize_t n = ::read(terminal, buf, sizeof buf);
        if (n > 0) result.output.append(buf, size_t(n));
        else if (n == 0 || errno != EINTR) break;
    }
    ::close(terminal);
    int status = 0;
    if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    std::string plain;
    for (size_t i = 0; i < result.output.size(); ++i)
        if (!(result.output[i] == '\r' && i + 1 < result.output.size() && result.output[i + 1] == '\n'))
            plain += result.output[i];
    result.output = std::move(plain);
    return result;
}

}  // namespace dtrack_test
