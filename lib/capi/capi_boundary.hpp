// The C ABI's boundary: every dt_ function runs its body through
// c_boundary(), which clears this thread's last error, turns a dtrack::Error
// into a negative errno plus dt_last_error(), and catches every exception
// (std::bad_alloc becomes -ENOMEM), since none may unwind into C.
#pragma once

#include <cerrno>
#include <new>
#include <string>
#include <type_traits>

#include "dtrack/error.hpp"

namespace dtrack::capi {

// Records `error` as this thread's last error; returns -errno (EIO when it
// carries none), the value a dt_ function returns for it.
int fail(const Error& error);

// A refused argument: -EINVAL, naming `what` is wrong and the `fix`.
inline int invalid(std::string what, std::string fix) { return fail(Error{EINVAL, std::move(what), std::move(fix)}); }

// For a required pointer argument that is NULL.
inline int null_argument(const char* function, const char* argument) {
    return invalid(std::string(function) + ": `" + argument + "` is NULL",
                   std::string("pass a valid ") + argument + " (see dtrack.h)");
}

void clear_last_error();
int fail_on_exception(const char* function);  // call only from a catch block

// Runs `body` (returning int or int64_t: >= 0 success, < 0 from fail()).
template <typename Body>
auto c_boundary(const char* function, Body&& body) noexcept -> decltype(body()) {
    try {
        clear_last_error();
        return body();
    } catch (...) {
        return fail_on_exception(function);
    }
}

// The whole body of a dt_ function that does one thing to a handle:
// refuses a NULL handle (named `name`), else runs action(*handle); 0.
template <typename Handle, typename Action>
int act_on(Handle* handle, const char* function, const char* name, Action&& action) noexcept {
    return c_boundary(function, [&] {
        if (!handle) return null_argument(function, name);
        action(*handle);
        return 0;
    });
}

// Returns the int for a Status: 0 or fail(error).
inline int status_code(const Status& status) { return status ? 0 : fail(status.error()); }

}  // namespace dtrack::capi
