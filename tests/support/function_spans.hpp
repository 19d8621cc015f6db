// The functions a C or C++ source defines, and the lines each spans: enough
// of a reader to hold the tree to "no function longer than 80 lines" (see
// CONTRIBUTING.md) without a compiler. It strips comments and string, char
// and raw-string literals, then follows braces: a block opened at namespace
// or class level whose head holds a '(' is a function body (lambdas and
// blocks inside it count as its lines). Brace initializers (`x_{1}`, `= {`)
// and namespace, class, struct, enum and union bodies are not functions.
#pragma once

#include <string>
#include <vector>

namespace dtrack_test {

struct FunctionSpan {
    std::string head;    // the text before its '{', from the end of the previous statement, one line
    int first_line = 0;  // 1-based: the line of the head's first word
    int last_line = 0;   // the line of its closing brace
    int lines() const { return last_line - first_line + 1; }
};

std::vector<FunctionSpan> function_spans(const std::string& source);

}  // namespace dtrack_test
