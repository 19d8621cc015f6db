#include "dtrack/units.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace dtrack {

namespace {

// How many leading characters of `text` form a decimal number (12, 1.5,
// .5, 1e10); 0 when none do. strtod alone would also read hex ("0x10s" as
// 16 s); here "0x10s" is 0 and the unit "x10s", which no parser has.
size_t decimal_length(const std::string& text) {
    const auto digits_from = [&](size_t i) {
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        return i;
    };
    size_t end = digits_from(0);
    const size_t integer_digits = end;
    if (end < text.size() && text[end] == '.') end = digits_from(end + 1);
    if (integer_digits == 0 && end <= 1) return 0;  // no digit at all
    if (end < text.size() && (text[end] == 'e' || text[end] == 'E')) {
        size_t exponent = end + 1;
        if (exponent < text.size() && (text[exponent] == '+' || text[exponent] == '-')) ++exponent;
        if (const size_t exponent_end = digits_from(exponent); exponent_end > exponent) end = exponent_end;
    }
    return end;
}

// Splits "256M" into 256 and "M"; fails on anything that is not a decimal number first.
bool split_number(const std::string& text, double& number, std::string& suffix) {
    const size_t used = decimal_length(text);
    if (used == 0) return false;
    number = std::strtod(text.substr(0, used).c_str(), nullptr);
    suffix = text.substr(used);
    return std::isfinite(number);
}

std::string prefix(const std::string& option) { return option.empty() ? "" : option + ": "; }

Error bad(const std::string& option, const std::string& what, const std::string& text, const std::string& examples) {
    return Error{EINVAL, prefix(option) + "'" + text + "' is not a " + what, "write it like " + examples};
}

// 2^64 and 2^63 as doubles: the first values the result types cannot hold.
constexpr double two_to_64 = 18446744073709551616.0;
constexpr double two_to_63 = 9223372036854775808.0;

Error too_large(const std::string& option, const std::string& text, const std::string& limit) {
    return Error{ERANGE, prefix(option) + "'" + text + "' is too large: at most " + limit,
                 "give a smaller " + (option.empty() ? std::string("value") : option)};
}

// A unit's multiple: the power of 1024 (bytes) or 1000 (bits) its first
// letter names, K 1, M 2, G 3, T 4, in either case as people type them; 0
// when it names none (and the unit has no multiple).
int prefix_power(const std::string& unit) {
    if (unit.empty()) return 0;
    const char* const letters = "KMGT";
    const char* at = std::strchr(letters, std::toupper(static_cast<unsigned char>(unit[0])));
    return at && *at ? int(at - letters) + 1 : 0;
}

// What is left of a unit after its multiple: bytes ("", "B", "iB"), bits
// ("bit", "bits", "bps"), the lowercase "b" that reads as either, or not a unit.
enum class UnitKind { bytes, bits, ambiguous_b, unknown };

UnitKind unit_kind(const std::string& rest, bool has_prefix) {
    if (rest.empty() || rest == "B" || (has_prefix && rest == "iB")) return UnitKind::bytes;
    std::string lower = rest;
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "bit" || lower == "bits" || rest == "bps") return UnitKind::bits;
    if (rest == "b" || (has_prefix && rest == "ib")) return UnitKind::ambiguous_b;
    return UnitKind::unknown;
}

const char* const size_forms = "4096, 64K, 256M or 1G (binary: G, GB and GiB are all 2^30 bytes)";
const char* const bandwidth_forms =
    "10G or 10GiB/s for bytes/s (binary: G, GB and GiB are all 2^30 bytes), 10Gbit or 10Gbps for bits/s "
    "(decimal, as links are sold: 10Gbit = 1.25e9 bytes/s)";

// "10Gb": gigabits, or bytes as dtrack once read it; the fix names both.
// `number` and `letter` as typed ("10", "G"); `per_second` for a bandwidth.
Error ambiguous_b(const std::string& option, const std::string& text, const std::string& number,
                  const std::string& letter, bool per_second) {
    static const char* const bits_named[] = {"bits", "kilobits", "megabits", "gigabits", "terabits"};
    const int power = prefix_power(letter);
    const std::string upper = power == 0 ? "" : std::string(1, "KMGT"[power - 1]);
    const std::string bytes = power == 0 ? number + "B" : number + upper + "B/" + number + upper + "iB";
    const std::string what = prefix(option) + "'" + text + "' is ambiguous: a lowercase b reads as bits or as bytes";
    if (!per_second) return Error{EINVAL, what, "write " + bytes + " for bytes (sizes are never in bits)"};
    const std::string bits = number + (power == 1 ? "k" : upper) + "bit";
    std::string fix =
        "write " + bits + " for " + bits_named[power] + " per second or " + bytes + " for bytes per second";
    if (power > 0) fix += " (binary, as all of dtrack's sizes: 1" + upper + "B = 1" + upper + "iB)";
    return Error{EINVAL, what, fix};
}

}  // namespace

Result<uint64_t> parse_size(const std::string& text, const std::string& option) {
    double n;
    std::string s;
    if (!split_number(text, n, s)) return bad(option, "size", text, size_forms);
    const int power = prefix_power(s);
    switch (unit_kind(s.substr(power > 0), power > 0)) {
        case UnitKind::bytes: break;
        case UnitKind::ambiguous_b:
            return ambiguous_b(option, text, text.substr(0, text.size() - s.size()), s.substr(0, power > 0), false);
        case UnitKind::bits:
        case UnitKind::unknown: return bad(option, "size", text, size_forms);
    }
    const double bytes = std::round(n * double(1ULL << (10 * power)));
    if (bytes >= two_to_64) return too_large(option, text, "16 EiB (2^64 - 1 bytes)");
    return static_cast<uint64_t>(bytes);
}

namespace {

// A bandwidth; text that is none gets `not_one`, the caller's message.
Result<uint64_t> bytes_per_second(const std::string& text, const std::string& option, const Error& not_one) {
    double n;
    std::string s;
    if (!split_number(text, n, s)) return not_one;
    const std::string unit = s.ends_with("/s") ? s.substr(0, s.size() - 2) : s;
    const int power = prefix_power(unit);
    const std::string rest = unit.substr(power > 0);
    double bytes = 0;
    switch (unit_kind(rest, power > 0)) {
        case UnitKind::bytes: bytes = n * double(1ULL << (10 * power)); break;
        case UnitKind::bits:
            if (rest == "bps" && unit.size() != s.size()) return not_one;  // "bps/s"
            bytes = n * std::pow(1000.0, power) / 8;
            break;
        case UnitKind::ambiguous_b:
            return ambiguous_b(option, text, text.substr(0, text.size() - s.size()), unit.substr(0, power > 0), true);
        case UnitKind::unknown: return not_one;
    }
    bytes = std::round(bytes);
    if (bytes >= two_to_64) return too_large(option, text, "16 EiB/s (2^64 - 1 bytes/s)");
    return static_cast<uint64_t>(bytes);
}

}  // namespace

Result<uint64_t> parse_bytes_per_second(const std::string& text, const std::string& option) {
    return bytes_per_second(text, option, bad(option, "bandwidth", text, bandwidth_forms));
}

Result<uint64_t> parse_count(const std::string& text, const std::string& option) {
    double n;
    std::string s;
    if (!split_number(text, n, s)) return bad(option, "count", text, "500, 50k or 2M");
    double mult;
    if (s.empty()) mult = 1;
    else if (s == "k" || s == "K") mult = 1e3;
    else if (s == "M" || s == "m") mult = 1e6;
    else if (s == "G" || s == "g") mult = 1e9;
    else return bad(option, "count", text, "500, 50k or 2M");
    const double count = std::round(n * mult);
    if (count >= two_to_64) return too_large(option, text, "2^64 - 1");
    return static_cast<uint64_t>(count);
}

Result<std::chrono::nanoseconds> parse_duration(const std::string& text, const std::string& option) {
    double n;
    std::string s;
    const char* forms = "10s, 500ms or 2m: a decimal number and ns, us, ms, s, m or h (s when none)";
    if (!split_number(text, n, s)) return bad(option, "duration", text, forms);
    double ns_per_unit;
    if (s.empty() || s == "s") ns_per_unit = 1e9;
    else if (s == "ms") ns_per_unit = 1e6;
    else if (s == "us") ns_per_unit = 1e3;
    else if (s == "ns") ns_per_unit = 1;
    else if (s == "m" || s == "min") ns_per_unit = 60e9;
    else if (s == "h") ns_per_unit = 3600e9;
    else return bad(option, "duration", text, forms);
    const double ns = std::round(n * ns_per_unit);
    if (ns >= two_to_63) return too_large(option, text, "292 years (2^63 - 1 ns)");
    return std::chrono::nanoseconds(static_cast<int64_t>(ns));
}

Result<double> parse_pages_per_second(const std::string& text, uint64_t page_size, const std::string& option) {
    const auto bad_rate = [&](const std::string& why) {
        return Error{EINVAL, prefix(option) + "'" + text + "' is not a dirty rate" + why,
                     "write pages/s as a number (1000, 50k) or bytes/s as a size per second (4M/s, 4MB/s)"};
    };
    double pages = 0;
    if (text.ends_with("/s") || text.ends_with("bps")) {
        // The unit says bytes (or bits): "4096/s" could be pages or bytes.
        const std::string size = text.substr(0, text.size() - 2);
        if (text.ends_with("/s") &&
            (size.empty() || std::isdigit(static_cast<unsigned char>(size.back())) || size.back() == '.'))
            return bad_rate(": a number per second is ambiguous (pages or bytes?)");
        auto bytes = bytes_per_second(text, option, bad_rate(""));
        if (!bytes) return bytes.error();
        pages = double(*bytes) / double(page_size);
    } else {
        auto count = parse_count(text, option);
        if (!count) return count.error().errno_value == ERANGE ? count.error() : bad_rate("");
        pages = double(*count);
    }
    if (!(pages > 0))
        return Error{EINVAL, prefix(option) + "'" + text + "' is no dirty rate at all",
                     "give a rate above 0, e.g. 1000 (pages/s) or 4M/s"};
    return pages;
}

std::string format_bytes(double bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

std::string format_count(double n) {
    char buf[32];
    if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.2fM", n / 1e6);
    else if (n >= 1e3) std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
    else std::snprintf(buf, sizeof buf, "%.0f", n);
    return buf;
}

}  // namespace dtrack
