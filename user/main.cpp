// dtrack: the command line tool. Parses the command line with CLI11 and
// runs the chosen subcommand (see commands.hpp).
#include <exception>
#include <iostream>
#include <string>

#include "commands.hpp"
#include "dtrack/version.hpp"

int main(int argc, char** argv) {
    using namespace dtrack::cli;

    CLI::App app{"dtrack: kernel-assisted dirty page tracking", "dtrack"};
    app.set_version_flag("--version", std::string("dtrack ") + dtrack::version());
    app.footer(
        "Exit codes: 0 success, 1 the command ran and failed, 2 bad input or a missing kernel feature or "
        "permission (the message names the cause and the fix). 'dtrack SUBCOMMAND --help' for each.");
    app.require_subcommand(1);
    ChosenCommand chosen;
    add_doctor_command(app, chosen);
    add_rate_command(app, chosen);
    add_sidecar_command(app, chosen);
    add_simulate_command(app, chosen);
    add_record_command(app, chosen);
    add_report_command(app, chosen);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help arrives as a "parse error" with exit code 0.
        if (e.get_exit_code() == 0) return app.exit(e);
        // Everything else is a usage error: exit code 2, whatever CLI11's
        // own code for it. CLI11 checks "a subcommand is required" before it
        // complains about unknown words, so name those first.
        std::string message = e.what();
        if (!app.remaining().empty() && app.get_subcommands().empty())
            message = "unknown subcommand or option: " + app.remaining().front();
        std::cerr << "dtrack: " << message << "\nRun 'dtrack --help' for usage.\n";
        return exit_usage;
    }

    try {
        return chosen.run ? chosen.run() : exit_usage;
    } catch (const std::exception& e) {
        std::cerr << "dtrack: " << e.what() << "\n";
        return exit_failure;
    }
}
