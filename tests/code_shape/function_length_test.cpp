// No function in tools/ or user/ grows past 80 lines (CONTRIBUTING.md):
// the commands and tools are where features pile up, one option at a time.
// The reader (support/function_spans) is checked first on code whose
// answer is known, so the tree check cannot pass by reading nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "support/function_spans.hpp"
#include "support/run_command.hpp"

using dtrack_test::function_spans;
using dtrack_test::FunctionSpan;

namespace {

constexpr int kMaxFunctionLines = 80;

std::string body_of(int lines) {
    std::string body;
    for (int i = 0; i < lines; ++i) body += "    x += " + std::to_string(i) + ";\n";
    return body;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// Shell functions: `name() {` to the first `}` alone at the start of a line.
std::vector<FunctionSpan> shell_function_spans(const std::string& script) {
    static const std::regex opening(R"(^\s*(function\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*\(\)\s*\{\s*$)");
    std::vector<FunctionSpan> spans;
    std::istringstream lines(script);
    int number = 0;
    FunctionSpan open{};
    for (std::string line; std::getline(lines, line);) {
        ++number;
        std::smatch m;
        if (open.first_line == 0 && std::regex_match(line, m, opening)) {
            open = {m[2].str() + "()", number, 0};
        } else if (open.first_line != 0 && line.rfind('}', 0) == 0) {
            open.last_line = number;
            spans.push_back(open);
            open = {};
        }
    }
    return spans;
}

}  // namespace

TEST(FunctionSpans, AFunctionSpansItsHeadToItsClosingBrace) {
    const auto spans = function_spans("int f(int x)\n{\n" + body_of(3) + "    return x;\n}\n");
    ASSERT_EQ(spans.size(), 1u);
    EXPECT_EQ(spans[0].first_line, 1);
    EXPECT_EQ(spans[0].lines(), 7);
    EXPECT_EQ(spans[0].head, "int f(int x) ");
}

TEST(FunctionSpans, NamespacesAndClassesHoldFunctionsWithoutBeingOne) {
    const auto spans = function_spans(
        "namespace a {\nnamespace {\nstruct S {\n    int g() const { return 1; }\n};\n}\n"
        "template <class T> T h(T t) {\n    return t;\n}\n}  // namespace a\n");
    ASSERT_EQ(spans.size(), 2u);
    EXPECT_EQ(spans[0].lines(), 1);
    EXPECT_EQ(spans[1].first_line, 7);
    EXPECT_EQ(spans[1].lines(), 3);
}

TEST(FunctionSpans, BracesInsideLiteralsCommentsInitializersAndLambdasDoNotEndTheFunction) {
    const std::string source =
        "#define OPEN {\n"
        "Foo::Foo(int a) : a_{a}, b_{1, 2} {\n"
        "    const char* s = \"}\";  // }\n"
        "    /* } */ char c = '}';\n"
        "    auto raw = R\"x(})x\";\n"
        "    auto f = [] { return 1'000; };\n"
        "    int v[] = {1, 2};\n"
        "}\n"
        "void after() {}\n";
    const auto spans = function_spans(source);
    ASSERT_EQ(spans.size(), 2u);
    EXPECT_EQ(spans[0].first_line, 2);
    EXPECT_EQ(spans[0].last_line, 8);
    EXPECT_EQ(spans[1].first_line, 9);
}

TEST(FunctionSpans, AnEightyOneLineFunctionIsSeenAsOne) {
    // head, {, 78 statements, } = 81 lines
    const auto spans = function_spans("void long_one()\n{\n" + body_of(78) + "}\n");
    ASSERT_EQ(spans.size(), 1u);
    EXPECT_EQ(spans[0].lines(), 81);
}

TEST(FunctionSpans, ShellFunctionsSpanToTheirClosingBrace) {
    const auto spans = shell_function_spans("#!/bin/sh\nwait_for() {\n  : \"${1}\"\n}\nx=1\n");
    ASSERT_EQ(spans.size(), 1u);
    EXPECT_EQ(spans[0].first_line, 2);
    EXPECT_EQ(spans[0].lines(), 3);
}

TEST(CodeShape, NoFunctionInToolsOrUserIsLongerThan80Lines) {
    std::vector<std::string> too_long;
    std::size_t functions = 0;
    for (const char* top : {"tools", "user"}) {
        for (const auto& entry : std::filesystem::recursive_directory_iterator(dtrack_test::source_file(top))) {
            const std::string ext = entry.path().extension().string();
            const bool shell = ext == ".sh";
            if (!entry.is_regular_file() || !(shell || ext == ".cpp" || ext == ".hpp" || ext == ".c" || ext == ".h"))
                continue;
            const std::string text = read_file(entry.path());
            const auto spans = shell ? shell_function_spans(text) : function_spans(text);
            functions += spans.size();
            for (const FunctionSpan& f : spans)
                if (f.lines() > kMaxFunctionLines)
                    too_long.push_back(std::filesystem::relative(entry.path(), dtrack_test::source_file("")).string() +
                                       ":" + std::to_string(f.first_line) + ": " + std::to_string(f.lines()) +
                                       " lines: " + f.head.substr(0, 80));
        }
    }
    EXPECT_GT(functions, 500u) << "the reader found too few functions to be reading the tree";
    std::string list;
    for (const std::string& t : too_long) list += "  " + t + "\n";
    EXPECT_TRUE(too_long.empty()) << too_long.size() << " functions are longer than " << kMaxFunctionLines
                                  << " lines; split them into named steps:\n"
                                  << list;
}
