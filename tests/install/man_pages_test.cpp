// The man pages say what --help says: every long option a program or
// subcommand lists in its --help appears in its man page (docs/man/), so a
// new option cannot ship undocumented there.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;
using dtrack_test::source_file;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The long options of a --help text: "  --name" at the start of a line.
std::set<std::string> long_options(const std::string& help) {
    std::set<std::string> options;
    const std::regex option(R"((?:^|\n) +(?:-\w,)?--([a-z][a-z0-9-]*))");
    for (std::sregex_iterator m(help.begin(), help.end(), option), end; m != end; ++m) options.insert((*m)[1]);
    return options;
}

// man(7) escapes each '-' of an option as "\-".
std::string roff(const std::string& option) {
    std::string out = "\\-\\-";
    for (char c : option) out += c == '-' ? std::string("\\-") : std::string(1, c);
    return out;
}

void expect_documented(const std::string& command, const std::string& page) {
    const std::string man = read_text(source_file("docs/man/" + page));
    ASSERT_FALSE(man.empty()) << page;
    const auto help = run(binary(command) + " --help");
    ASSERT_EQ(help.exit_code, 0) << help.output;
    const std::set<std::string> options = long_options(help.output);
    EXPECT_GT(options.size(), 1u) << help.output;
    for (const std::string& option : options)
        EXPECT_NE(man.find(roff(option)), std::string::npos)
            << "--" << option << " of `" << command << "` is not in " << page;
}

TEST(ManPages, EveryOptionOfEveryDtrackSubcommandIsInDtrack1) {
    for (const char* command :
         {"dtrack", "dtrack doctor", "dtrack rate", "dtrack sidecar", "dtrack simulate", "dtrack report"})
        expect_documented(command, "dtrack.1");
}

TEST(ManPages, EveryOptionOfDtvmIsInDtvm1) { expect_documented("dtvm", "dtvm.1"); }

TEST(ManPages, EveryDtrackSubcommandHasASection) {
    const std::string man = read_text(source_file("docs/man/dtrack.1"));
    const auto help = run(binary("dtrack") + " --help");
    const std::regex subcommand(R"(\n  ([a-z]+) +[A-Z])");
    int seen = 0;
    for (std::sregex_iterator m(help.output.begin(), help.output.end(), subcommand), end; m != end; ++m, ++seen) {
        std::string name = (*m)[1];
        for (char& c : name) c = char(std::toupper(c));
        EXPECT_NE(man.find(".SH \"DTRACK " + name + "\""), std::string::npos) << name << ": " << help.output;
    }
    EXPECT_GE(seen, 4) << help.output;
}

}  // namespace
