#include "report_svg_text.hpp"

#include <cstdint>
#include <cstdio>

namespace dtrack::cli {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong
// forms, no surrogates, at most U+10FFFF), or 0; `cp` its code point.
size_t utf8_sequence(std::string_view s, size_t i, uint32_t& cp) {
    const uint8_t b = uint8_t(s[i]);
    const size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    cp = n == 1 ? b : b & (0x7F >> n);
    for (size_t k = 1; k < n; ++k) {
        const uint8_t c = uint8_t(s[i + k]);
        if ((c & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (c & 0x3F);
    }
    static constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// XML 1.0's Char production: tab, newline, carriage return, and from space up, less U+FFFE and U+FFFF.
bool xml_char(uint32_t cp) {
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp != 0xFFFE && cp != 0xFFFF);
}

std::string number(double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.6g", v);
    return b;
}

std::string element(const SvgTextItem& t) {
    const double* m = t.to_picture;
    std::string e = "<text x=\"" + number(t.x) + "\" y=\"" + number(t.y) +
                    "\" font-family=\"sans-serif\" font-size=\"" + number(t.size) + "\"";
    if (t.bold) e += " font-weight=\"bold\"";
    if (t.anchor == 0.5) e += " text-anchor=\"middle\"";
    else if (t.anchor == 1) e += " text-anchor=\"end\"";
    char fill[96];
    std::snprintf(fill, sizeof fill, " fill=\"rgb(%d,%d,%d)\"", int(t.r * 255 + 0.5), int(t.g * 255 + 0.5),
                  int(t.b * 255 + 0.5));
    e += fill;
    if (t.alpha < 1) e += " fill-opacity=\"" + number(t.alpha) + "\"";
    if (m[0] != 1 || m[1] != 0 || m[2] != 0 || m[3] != 1 || m[4] != 0 || m[5] != 0)
        e += " transform=\"matrix(" + number(m[0]) + " " + number(m[1]) + " " + number(m[2]) + " " + number(m[3]) +
             " " + number(m[4]) + " " + number(m[5]) + ")\"";
    return e + ">" + xml_text(t.text) + "</text>\n";
}

}  // namespace

std::string xml_text(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        const size_t n = utf8_sequence(s, i, cp);
        if (n == 0 || !xml_char(cp)) {
            out += replacement;
            i += n ? n : 1;
            continue;
        }
        switch (cp) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&apos;"; break;
            default: out.append(s.substr(i, n));
        }
        i += n;
    }
    return out;
}

std::string SvgTexts::insert_into(std::string svg) const {
    std::string texts = "<g id=\"text\">\n";
    for (const SvgTextItem& t : items_) texts += element(t);
    texts += "</g>\n";
    const size_t end = svg.rfind("</svg>");
    svg.insert(end == std::string::npos ? svg.size() : end, texts);
    return svg;
}

}  // namespace dtrack::cli
