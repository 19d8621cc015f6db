#include "support/function_spans.hpp"

#include <cctype>
#include <regex>

namespace dtrack_test {

namespace {

bool identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// `source` with comments, literals and preprocessor lines turned into spaces
// (newlines kept, so line numbers hold).
std::string code_only(const std::string& s) {
    std::string out = s;
    const auto blank = [&](std::size_t from, std::size_t to) {
        for (std::size_t i = from; i < to && i < out.size(); ++i)
            if (out[i] != '\n') out[i] = ' ';
    };
    bool line_start = true;
    for (std::size_t i = 0; i < s.size();) {
        const char c = s[i];
        if (line_start && c == '#') {  // a directive, with its continuation lines
            std::size_t end = i;
            while (end < s.size() && !(s[end] == '\n' && s[end - 1] != '\\')) ++end;
            blank(i, end);
            i = end;
            continue;
        }
        if (c == '\n') line_start = true;
        else if (!std::isspace(static_cast<unsigned char>(c))) line_start = false;
        if (c == '/' && i + 1 < s.size() && s[i + 1] == '/') {
            const std::size_t end = s.find('\n', i);
            blank(i, end == std::string::npos ? s.size() : end);
            i = end == std::string::npos ? s.size() : end;
        } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
            const std::size_t end = s.find("*/", i + 2);
            const std::size_t stop = end == std::string::npos ? s.size() : end + 2;
            blank(i, stop);
            i = stop;
        } else if (c == '"' && i > 0 && s[i - 1] == 'R') {  // R"delim( ... )delim"
            const std::size_t open = s.find('(', i);
            const std::string close = ")" + s.substr(i + 1, open - i - 1) + "\"";
            const std::size_t end = open == std::string::npos ? std::string::npos : s.find(close, open);
            const std::size_t stop = end == std::string::npos ? s.size() : end + close.size();
            blank(i, stop);
            i = stop;
        } else if (c == '"' || (c == '\'' && !(i > 0 && std::isxdigit(static_cast<unsigned char>(s[i - 1]))))) {
            // A string or char literal (a ' after a digit separates digits: 1'000).
            std::size_t j = i + 1;
            while (j < s.size() && s[j] != c && s[j] != '\n') j += s[j] == '\\' ? 2 : 1;
            blank(i, j + 1);
            i = j + 1;
        } else {
            ++i;
        }
    }
    return out;
}

// A head that opens a namespace, class, struct, enum or union body (a
// template's parameter list first is skipped).
bool opens_container(std::string head) {
    static const std::regex template_prefix(R"(^\s*template\s*<[^{]*?>\s*)");
    static const std::regex container(
        R"(^\s*(typedef\s+|inline\s+|export\s+)*(namespace|class|struct|enum|union|extern)\b)");
    head = std::regex_replace(head, template_prefix, "");
    return std::regex_search(head, container);
}

enum class Block { container, function, other, initializer };

struct Frame {
    Block kind;
    int first_line;
    std::string head;
};

}  // namespace

std::vector<FunctionSpan> function_spans(const std::string& source) {
    const std::string code = code_only(source);
    std::vector<FunctionSpan> spans;
    std::vector<Frame> open;
    std::string head;
    int line = 1, head_line = 0;
    const auto in_function = [&] {
        for (const Frame& f : open)
            if (f.kind != Block::container) return true;
        return false;
    };
    const auto reset_head = [&] {
        head.clear();
        head_line = 0;
    };
    for (std::size_t i = 0; i < code.size(); ++i) {
        const char c = code[i];
        if (c == '\n') ++line;
        if (c == '{') {
            const char before = i > 0 ? code[i - 1] : ' ';
            const std::size_t last = head.find_last_not_of(" \t\n");
            const char head_end = last == std::string::npos ? ' ' : head[last];
            if (identifier_char(before) || before == '>' || head_end == '=' || head_end == ',' || head_end == '(' ||
                head_end == '[') {
                open.push_back({Block::initializer, line, ""});  // x_{1}, = { ... }: the head goes on after it
                continue;
            }
            Block kind = Block::other;
            if (!in_function()) {
                if (opens_container(head)) kind = Block::container;
                else if (head.find('(') != std::string::npos) kind = Block::function;
            }
            open.push_back({kind, head_line ? head_line : line, head});
            reset_head();
        } else if (c == '}') {
            if (open.empty()) continue;  // unbalanced input: nothing to close
            const Frame frame = open.back();
            open.pop_back();
            if (frame.kind == Block::initializer) continue;
            if (frame.kind == Block::function) {
                std::string one_line = frame.head;
                for (char& ch : one_line)
                    if (ch == '\n' || ch == '\t') ch = ' ';
                const std::size_t b = one_line.find_first_not_of(' ');
                spans.push_back({b == std::string::npos ? "" : one_line.substr(b), frame.first_line, line});
            }
            reset_head();
        } else if (c == ';') {
            reset_head();
        } else {
            if (!head_line && !std::isspace(static_cast<unsigned char>(c))) head_line = line;
            head += c;
        }
    }
    return spans;
}

}  // namespace dtrack_test
