#include "rate_method.hpp"

#include <cstdlib>

#include "dtrack/units.hpp"

namespace dtrack::cli {

Result<MeasureMethod> parse_rate_method(const std::string& text) {
    if (text == "auto") return MeasureMethod::automatic;
    if (text == "bpf") return MeasureMethod::kernel_events;
    if (text == "sample") return MeasureMethod::sample;
    if (text == "uffd")
        return Error{EINVAL,
                     "there is no --method uffd: userfaultfd tracks only memory of the process that registers it, "
                     "so it cannot measure another process",
                     "use --method bpf or --method sample; a VMM can embed dtrack::UffdSource for its own RAM"};
    return Error{EINVAL, "unknown method '" + text + "'", "use auto, bpf or sample"};
}

Result<std::chrono::nanoseconds> parse_interval(const std::string& text, const std::string& option) {
    auto interval = parse_duration(text, option);
    if (!interval) return interval.error();
    if (*interval < std::chrono::milliseconds(10))
        return Error{EINVAL, option + " " + text + " is too short", "use 10ms or more, e.g. 1s"};
    return *interval;
}

Result<double> parse_bound(const std::string& text) {
    char* end = nullptr;
    double v = std::strtod(text.c_str(), &end);
    if (end != text.c_str() && *end == '%' && end[1] == 0) v /= 100;
    else if (end == text.c_str() || *end != 0) v = -1;
    if (!(v > 0 && v < 1))
        return Error{EINVAL, "--bound " + text + " is not a share between 0 and 100%",
                     "give e.g. --bound 2% (the default), 1% (finer, dearer) or 5% (cheaper)"};
    return v;
}

}  // namespace dtrack::cli
