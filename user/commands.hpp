// The dtrack subcommands. Each one lives in its own cmd_<name>.cpp and
// registers itself on the app; when the user picks it, its callback stores
// what to run in `chosen`, and main() runs that after parsing succeeded.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>

namespace dtrack::cli {

// Exit codes of dtrack.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // the command ran and failed
inline constexpr int exit_usage = 2;    // bad command line

struct ChosenCommand {
    std::function<int()> run;  // returns the exit code
};

// Registers subcommand `name`, whose options fill `*options` while the
// command line is parsed; when it is the one chosen, main() runs `run`.
template <typename Options>
CLI::App* add_command(CLI::App& app, ChosenCommand& chosen, const char* name, const char* about,
                      const std::shared_ptr<Options>& options, int (*run)(const Options&)) {
    CLI::App* cmd = app.add_subcommand(name, about);
    cmd->callback([&chosen, options, run] { chosen.run = [options, run] { return run(*options); }; });
    return cmd;
}

void add_doctor_command(CLI::App& app, ChosenCommand& chosen);
void add_rate_command(CLI::App& app, ChosenCommand& chosen);
void add_sidecar_command(CLI::App& app, ChosenCommand& chosen);
void add_simulate_command(CLI::App& app, ChosenCommand& chosen);
void add_record_command(CLI::App& app, ChosenCommand& chosen);
void add_report_command(CLI::App& app, ChosenCommand& chosen);

}  // namespace dtrack::cli
