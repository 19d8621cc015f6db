// An SVG picture read with a real XML parser (expat): whether it is
// well-formed, its <text> elements' strings, and its elements' attributes.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace dtrack_test {

struct SvgElement {
    std::string name;
    std::map<std::string, std::string> attributes;
    std::string text;  // the character data directly inside it
};

struct SvgDocument {
    std::string error;                 // empty: well-formed
    std::vector<SvgElement> elements;  // in document order

    std::vector<std::string> texts() const;  // the strings of the <text> elements
    size_t count(const std::string& name) const;
};

SvgDocument read_svg(const std::string& path);

}  // namespace dtrack_test
