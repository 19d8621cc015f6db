#include "dtrack/dirty_limit_options.hpp"

#include <cerrno>

#include "dtrack/units.hpp"

namespace dtrack {

Result<std::chrono::milliseconds> parse_dirty_limit_period(const std::string& text, const std::string& option) {
    auto period = parse_duration(text, option);
    if (!period) return period.error();
    if (*period < std::chrono::milliseconds(1) || *period > std::chrono::seconds(1))
        return Error{EINVAL, option + " " + text + " is out of range",
                     "give 1ms to 1s (QEMU's x-vcpu-dirty-limit-period range), e.g. 1s"};
    return std::chrono::duration_cast<std::chrono::milliseconds>(*period);
}

}  // namespace dtrack
