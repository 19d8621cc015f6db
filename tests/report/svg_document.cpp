#include "svg_document.hpp"

#include <expat.h>

#include <fstream>
#include <iterator>

namespace dtrack_test {

namespace {

struct Parse {
    SvgDocument doc;
    std::vector<size_t> open;  // indices into doc.elements
};

void on_start(void* data, const XML_Char* name, const XML_Char** attributes) {
    auto* p = static_cast<Parse*>(data);
    SvgElement e{.name = name, .attributes = {}, .text = {}};
    for (size_t i = 0; attributes[i]; i += 2) e.attributes[attributes[i]] = attributes[i + 1];
    p->open.push_back(p->doc.elements.size());
    p->doc.elements.push_back(std::move(e));
}

void on_end(void* data, const XML_Char*) { static_cast<Parse*>(data)->open.pop_back(); }

void on_text(void* data, const XML_Char* s, int length) {
    auto* p = static_cast<Parse*>(data);
    if (!p->open.empty()) p->doc.elements[p->open.back()].text.append(s, size_t(length));
}

}  // namespace

std::vector<std::string> SvgDocument::texts() const {
    std::vector<std::string> out;
    for (const SvgElement& e : elements)
        if (e.name == "text") out.push_back(e.text);
    return out;
}

size_t SvgDocument::count(const std::string& name) const {
    size_t n = 0;
    for (const SvgElement& e : elements) n += e.name == name;
    return n;
}

SvgDocument read_svg(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), {}};
    Parse p;
    XML_Parser parser = XML_ParserCreate("UTF-8");
    XML_SetUserData(parser, &p);
    XML_SetElementHandler(parser, on_start, on_end);
    XML_SetCharacterDataHandler(parser, on_text);
    if (XML_Parse(parser, bytes.data(), int(bytes.size()), 1) == XML_STATUS_ERROR)
        p.doc.error = std::string(XML_ErrorString(XML_GetErrorCode(parser))) + " at line " +
                      std::to_string(XML_GetCurrentLineNumber(parser));
    if (bytes.empty()) p.doc.error = "empty file";
    XML_ParserFree(parser);
    return p.doc;
}

}  // namespace dtrack_test
