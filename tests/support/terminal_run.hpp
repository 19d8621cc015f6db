// Runs a command with its output on a pseudo-terminal, as a person at a
// terminal would see it: programs that colour only a terminal's output
// (isatty) colour it here.
#pragma once

#include <string>

#include "support/run_command.hpp"

namespace dtrack_test {

// Runs a shell command line with stdin, stdout and stderr on a new
// pseudo-terminal; collects what it wrote ("\r\n" read back as "\n") and
// its exit code.
CommandResult run_on_terminal(const std::string& command_line);

}  // namespace dtrack_test
