// Errors as values (dtrack/error.hpp), and the library's one errno formatter:
// sources, probes and consumers all describe a failed call through
// errno_text() and errno_error(), so every message says it the same way.
#include "dtrack/error.hpp"

#include <cstring>

namespace dtrack {

std::string errno_text(int err) {
    // The kernel's own "not supported" code leaks out of some BPF paths;
    // libc has no name for it.
    if (err == 524) return "Operation not supported by the kernel (ENOTSUPP, 524)";
    const char* name = strerrorname_np(err);
    std::string text = std::strerror(err);
    if (name) text += std::string(" (") + name + ")";
    return text;
}

Error errno_error(const std::string& call, int err, std::string fix) {
    return Error{err, call + " failed: " + errno_text(err), std::move(fix)};
}

}  // namespace dtrack
