#include "text_wrap.hpp"

namespace dtrack::cli {

std::vector<std::string> wrap(std::string_view text, std::size_t width) {
    std::vector<std::string> lines;
    std::string line;
    std::size_t pos = 0;
    while (pos < text.size()) {
        while (pos < text.size() && text[pos] == ' ') ++pos;
        std::size_t end = text.find(' ', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view word = text.substr(pos, end - pos);
        pos = end;
        if (word.empty()) break;

        if (!line.empty() && line.size() + 1 + word.size() > width) {
            lines.push_back(line);
            line.clear();
        }
        while (word.size() > width) {  // no space to break at: after a '/' (a path), else cut
            if (!line.empty()) {
                lines.push_back(line);
                line.clear();
            }
            const std::size_t slash = word.substr(0, width).rfind('/');
            const std::size_t cut = slash != std::string_view::npos && slash > 0 ? slash + 1 : width;
            lines.emplace_back(word.substr(0, cut));
            word.remove_prefix(cut);
        }
        if (!line.empty()) line += ' ';
        line += word;
    }
    if (!line.empty()) lines.push_back(line);
    return lines;
}

}  // namespace dtrack::cli
