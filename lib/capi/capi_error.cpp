// dt_last_error(): each thread's last error, kept as the text the caller
// reads (so the pointer stays valid until that thread's next dt_ call).
#include <cstring>
#include <exception>

#include "capi/capi_boundary.hpp"
#include "dtrack/dtrack.h"

namespace dtrack::capi {
namespace {

struct LastError {
    std::string message;  // "what; fix: how"
    std::string fix;
};
thread_local LastError last_error;
thread_local const char* entry_point = nullptr;  // the running dt_ function, for fail()

}  // namespace

void clear_last_error() {
    // clear() keeps the capacity: no allocation on the hot path (dt_ring_on_full).
    last_error.message.clear();
    last_error.fix.clear();
}

EntryPoint::EntryPoint(const char* function) noexcept : outer_(entry_point) { entry_point = function; }
EntryPoint::~EntryPoint() { entry_point = outer_; }

int fail(const Error& error) {
    const int err = error.errno_value > 0 ? error.errno_value : EIO;
    try {
        last_error.message = entry_point ? std::string(entry_point) + ": " + error.message() : error.message();
        last_error.fix = error.fix;
    } catch (...) {
        // No memory for the message: the errno alone still says it.
        clear_last_error();
    }
    return -err;
}

int fail_on_exception() {
    try {
        throw;
    } catch (const std::bad_alloc&) {
        return fail(Error{ENOMEM, "out of memory", "free memory or lower the sizes asked for"});
    } catch (const std::exception& e) {
        return fail(Error{EIO, std::string("internal error: ") + e.what(),
                          "report it to the dtrack project with the call that caused it"});
    } catch (...) {
        return fail(Error{EIO, "internal error (an unknown exception)",
                          "report it to the dtrack project with the call that caused it"});
    }
}

}  // namespace dtrack::capi

extern "C" {

const char* dt_last_error(void) { return dtrack::capi::last_error.message.c_str(); }
const char* dt_last_error_fix(void) { return dtrack::capi::last_error.fix.c_str(); }
}
