#include "exposition_format.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>

namespace dtrack::cli::sidecar {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

// One entry of an Accept header: "application/openmetrics-text; version=1.0.0; q=0.9".
struct MediaRange {
    std::string_view type;
    std::string_view version;  // empty: none given
    double q = 1;
};

MediaRange parse_media_range(std::string_view entry) {
    MediaRange r;
    size_t semicolon = entry.find(';');
    r.type = trim(entry.substr(0, semicolon));
    while (semicolon != std::string_view::npos) {
        entry.remove_prefix(semicolon + 1);
        semicolon = entry.find(';');
        const std::string_view param = trim(entry.substr(0, semicolon));
        const size_t eq = param.find('=');
        if (eq == std::string_view::npos) continue;
        const std::string_view key = trim(param.substr(0, eq)), value = trim(param.substr(eq + 1));
        if (equal_ignoring_case(key, "q")) r.q = std::strtod(std::string(value).c_str(), nullptr);
        else if (equal_ignoring_case(key, "version")) r.version = value;
    }
    return r;
}

// How long the valid UTF-8 sequence at the start of `text` is; 0 if it is not one
// (a stray continuation byte, an overlong form, a surrogate, beyond U+10FFFF, cut short).
size_t utf8_sequence(std::string_view text) {
    const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char b0 = byte(0);
    if (b0 < 0x80) return 1;
    size_t n = b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3 : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    if (n == 0 || text.size() < n) return 0;
    for (size_t i = 1; i < n; ++i)
        if ((byte(i) & 0xC0) != 0x80) return 0;
    if (b0 == 0xE0 && byte(1) < 0xA0) return 0;  // overlong
    if (b0 == 0xED && byte(1) > 0x9F) return 0;  // a surrogate
    if (b0 == 0xF0 && byte(1) < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && byte(1) > 0x8F) return 0;  // beyond U+10FFFF
    return n;
}

// The text format escapes backslash and newline in HELP; label values, and
// OpenMetrics' HELP, also the double quote. Both formats are UTF-8, and one
// invalid byte makes Prometheus drop the whole scrape (every target): a
// process may name itself anything (prctl), so invalid bytes become U+FFFD.
std::string escape(std::string_view text, bool quote) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const char c = text[i];
        const size_t n = utf8_sequence(text.substr(i));
        if (n == 0) {
            out += "\xEF\xBF\xBD";
            ++i;
            continue;
        }
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '"' && quote) out += "\\\"";
        else out.append(text.substr(i, n));
        i += n;
    }
    return out;
}

// Integers as integers (a counter of pages reads 123456, not 1.23456e+05);
// anything else in the shortest form that reads back as the same double.
void append_value(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[32];
    std::to_chars_result r;
    if (v == std::trunc(v) && std::fabs(v) < 1e15) r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    else r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

const char* suffix(MetricType type) {
    switch (type) {
        case MetricType::counter: return "_total";
        case MetricType::info: return "_info";
        case MetricType::gauge: break;
    }
    return "";
}

const char* type_word(MetricType type, ExpositionFormat format) {
    switch (type) {
        case MetricType::counter: return "counter";
        case MetricType::info: return format == ExpositionFormat::openmetrics ? "info" : "gauge";
        case MetricType::gauge: break;
    }
    return "gauge";
}

}  // namespace

ExpositionFormat negotiate_format(std::string_view accept_header) {
    double openmetrics_q = 0, text_q = 0;
    while (!accept_header.empty()) {
        const size_t comma = accept_header.find(',');
        const MediaRange r = parse_media_range(accept_header.substr(0, comma));
        accept_header.remove_prefix(comma == std::string_view::npos ? accept_header.size() : comma + 1);
        if (equal_ignoring_case(r.type, "application/openmetrics-text")) {
            if (r.version.empty() || r.version == "1.0.0") openmetrics_q = std::max(openmetrics_q, r.q);
        } else if (equal_ignoring_case(r.type, "text/plain")) {
            if (r.version.empty() || r.version == "0.0.4") text_q = std::max(text_q, r.q);
        } else if (r.type == "*/*" || equal_ignoring_case(r.type, "text/*")) {
            text_q = std::max(text_q, r.q);
        }
    }
    return openmetrics_q > 0 && openmetrics_q >= text_q ? ExpositionFormat::openmetrics
                                                        : ExpositionFormat::prometheus_text;
}

std::string_view content_type(ExpositionFormat format) {
    return format == ExpositionFormat::openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                                   : "text/plain; version=0.0.4; charset=utf-8";
}

std::string render(const std::vector<MetricFamily>& families, ExpositionFormat format) {
    const bool openmetrics = format == ExpositionFormat::openmetrics;
    std::string out;
    for (const MetricFamily& f : families) {
        const std::string sample_name = f.name + suffix(f.type);
        // OpenMetrics describes the family; the text format, the samples' name.
        const std::string& described = openmetrics ? f.name : sample_name;
        out += "# HELP " + described + " " + escape(f.help, openmetrics) + "\n";
        out += "# TYPE " + described + " " + type_word(f.type, format) + "\n";
        for (const MetricSample& s : f.samples) {
            out += sample_name;
            if (!s.labels.empty()) {
                out += '{';
                for (size_t i = 0; i < s.labels.size(); ++i) {
                    if (i) out += ',';
                    out += s.labels[i].name + "=\"" + escape(s.labels[i].value, true) + "\"";
                }
                out += '}';
            }
            out += ' ';
            append_value(out, s.value);
            out += '\n';
        }
    }
    if (openmetrics) out += "# EOF\n";
    return out;
}

}  // namespace dtrack::cli::sidecar
