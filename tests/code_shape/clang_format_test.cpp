// The tree is as clang-format leaves it (.clang-format, bpf/.clang-format):
// `make format` applies the style, this test keeps it applied.
#include <gtest/gtest.h>

#include "support/run_command.hpp"

using dtrack_test::run;
using dtrack_test::source_file;

TEST(CodeShape, EverySourceFileIsAsClangFormatLeavesIt) {
    if (run("command -v clang-format >/dev/null").exit_code != 0)
        GTEST_SKIP() << "clang-format is not installed (Debian's clang-format; `make deps` installs it)";
    if (run("git -C " + source_file("") + " rev-parse >/dev/null 2>&1").exit_code != 0)
        GTEST_SKIP() << "the source tree is not a git checkout, so its files cannot be listed";
    const auto r = run("cd " + source_file("") + " && make --no-print-directory -s format-check 2>&1");
    EXPECT_EQ(r.exit_code, 0) << "run `make format`:\n" << r.output.substr(0, 4000);
}
