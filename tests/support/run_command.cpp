#include "support/run_command.hpp"

#include <sys/wait.h>

#include <cstdio>

namespace dtrack_test {

CommandResult run(const std::string& command_line) {
    CommandResult result;
    FILE* pipe = ::popen(command_line.c_str(), "r");
    if (!pipe) return result;
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
    const int status = ::pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

}  // namespace dtrack_test
