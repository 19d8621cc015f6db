#include "interval_count.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "dtrack/units.hpp"
#include "rate_method.hpp"

namespace dtrack::cli {

namespace {

// A whole number of intervals: "1.5" is no count (parse_count would round it).
Result<uint64_t> parse_interval_count_number(const std::string& text, const std::string& option) {
    const bool digits =
        !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return std::isdigit((unsigned char)c); });
    if (!digits)
        return Error{EINVAL, option + ": '" + text + "' is not a whole number of intervals",
                     "give e.g. 3, or 0 for no end (until the process exits or Ctrl-C)"};
    return parse_count(text, option);
}

// A value given as an option or as a positional: which one, as {text, name}.
struct Given {
    std::string text, name;
};

Result<Given> given_once(const Given& option, const Given& positional, const std::string& fallback) {
    if (!option.text.empty() && !positional.text.empty())
        return Error{EINVAL,
                     positional.name + " is given twice: " + positional.name + " " + positional.text + " and " +
                         option.name + " " + option.text,
                     "give it once: as a positional (INTERVAL [COUNT], as vmstat takes them) or as " + option.name};
    if (!positional.text.empty()) return positional;
    if (!option.text.empty()) return option;
    return Given{fallback, option.name};
}

}  // namespace

void add_interval_count_flags(CLI::App& cmd, IntervalCountFlags& f, const char* default_interval) {
    cmd.add_option("-i,--interval", f.interval,
                   std::string("length of one measurement (e.g. 1s, 500ms; default ") + default_interval + ")");
    cmd.add_option("-c,--count", f.count,
                   "stop after this many intervals (default 0: until the process exits or Ctrl-C)");
    cmd.add_option("INTERVAL", f.positionals,
                   "INTERVAL [COUNT] as vmstat takes them, for --interval and --count (1 3: every 1 s, 3 times)")
        ->type_name("[COUNT]");
}

Result<IntervalCount> parse_interval_count(const IntervalCountFlags& f, const char* default_interval) {
    const std::vector<std::string>& words = f.positionals;
    if (words.size() > 2) {
        std::string extra;
        for (size_t i = 2; i < words.size(); ++i) extra += (i > 2 ? " " : "") + words[i];
        return Error{EINVAL, "not expected after INTERVAL " + words[0] + " and COUNT " + words[1] + ": " + extra,
                     "give at most INTERVAL [COUNT] after the options (e.g. 1 3: every 1 s, 3 times)"};
    }
    IntervalCount ic;
    auto interval =
        given_once({f.interval, "--interval"}, {words.empty() ? "" : words[0], "INTERVAL"}, default_interval);
    if (!interval) return interval.error();
    auto length = parse_interval(interval->text, interval->name);
    if (!length) return length.error();
    ic.interval = *length;
    auto count = given_once({f.count, "--count"}, {words.size() < 2 ? "" : words[1], "COUNT"}, "0");
    if (!count) return count.error();
    auto n = parse_interval_count_number(count->text, count->name);
    if (!n) return n.error();
    ic.count = *n;
    return ic;
}

}  // namespace dtrack::cli
