// The measuring options as typed, shared by the commands that measure (rate,
// sidecar, record): the method, the interval, the sampling bound. What they
// measure with is the library's TargetMeter (dtrack/target_meter.hpp).
#pragma once

#include <chrono>
#include <string>

#include "dtrack/dirty_figure.hpp"
#include "dtrack/error.hpp"

namespace dtrack::cli {

// "auto" | "bpf" | "sample"; "uffd" gets its own explanation.
Result<MeasureMethod> parse_rate_method(const std::string& text);
// "1s", "500ms": at least 10 ms; `option` names where it came from in an error.
Result<std::chrono::nanoseconds> parse_interval(const std::string& text, const std::string& option = "--interval");
// "1%", "0.5%" or "0.01": a fraction in (0, 1).
Result<double> parse_bound(const std::string& text);

}  // namespace dtrack::cli
