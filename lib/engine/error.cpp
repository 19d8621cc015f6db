#include "dtrack/error.hpp"

#include <cstring>

namespace dtrack {

Error errno_error(const std::string& call, int err, std::string fix) {
    return Error{err, call + " failed: " + std::strerror(err), std::move(fix)};
}

}  // namespace dtrack
