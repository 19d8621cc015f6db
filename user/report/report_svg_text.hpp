// Text in dtrack report's SVG pictures as <text> elements, not shapes.
// cairo's SVG surface (1.16, Debian 12's) has no option for that (its
// bug 38516): it draws every glyph as a path in <defs>, placed with <use>, so the
// picture's words cannot be searched, selected, read by a screen reader or
// restyled. The drawing calls text() for each string; for an SVG it lands
// here instead of in cairo, with cairo's transform and colour at that point,
// and the strings are written into the document cairo made, above the
// drawing. Strings come from the recording (target, region names): they are
// escaped, and made valid UTF-8 without the characters XML 1.0 forbids.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dtrack::cli {

struct SvgTextItem {
    // User space to the picture's, as SVG's matrix(a b c d e f) (cairo's
    // xx yx xy yy x0 y0): identity unless the drawing translated or rotated.
    double to_picture[6] = {1, 0, 0, 1, 0, 0};
    double x = 0, y = 0;  // the baseline's anchor, in user space
    double size = 12;
    double anchor = 0;  // 0 the text starts at x, 0.5 centred, 1 ends there
    bool bold = false;
    double r = 0, g = 0, b = 0, alpha = 1;
    std::string text;
};

// `s` as XML character data: & < > " ' escaped, invalid UTF-8 and forbidden characters as U+FFFD.
std::string xml_text(std::string_view s);

class SvgTexts {
public:
    void add(SvgTextItem item) { items_.push_back(std::move(item)); }
    // The document with the strings as <text> elements before its closing </svg>.
    std::string insert_into(std::string svg) const;

private:
    std::vector<SvgTextItem> items_;
};

}  // namespace dtrack::cli
