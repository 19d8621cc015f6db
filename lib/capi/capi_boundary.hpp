// The C ABI's boundary: every dt_ function runs its body through
// c_boundary(), which clears this thread's last error, turns a dtrack::Error
// into a negative errno plus dt_last_error(), and catches every exception
// (std::bad_alloc becomes -ENOMEM), since none may unwind into C. Every
// message begins with the entry point's name, which c_boundary() holds for
// fail(): the body is a lambda, where __func__ would be "operator()".
#pragma once

#include <cerrno>
#include <new>
#include <string>
#include <type_traits>

#include "dtrack/error.hpp"

namespace dtrack::capi {

// Records `error` as this thread's last error, after the name of the entry
// point running; returns -errno (EIO when it carries none), the value a dt_
// function returns for it.
int fail(const Error& error);

// A refused argument: -EINVAL, naming `what` is wrong and the `fix`.
inline int invalid(std::string what, std::string fix) { return fail(Error{EINVAL, std::move(what), std::move(fix)}); }

// For a required pointer argument that is NULL.
inline int null_argument(const char* argument) {
    return invalid(std::string("`") + argument + "` is NULL",
                   std::string("pass a valid ") + argument + " (see dtrack.h)");
}

void clear_last_error();
int fail_on_exception();  // call only from a catch block

// The entry point fail() names on this thread while it lives (a callback
// into the caller may enter another, which names itself until it returns).
class EntryPoint {
public:
    explicit EntryPoint(const char* function) noexcept;
    ~EntryPoint();
    EntryPoint(const EntryPoint&) = delete;
    EntryPoint& operator=(const EntryPoint&) = delete;

private:
    const char* outer_;
};

// Runs `body` (returning int or int64_t: >= 0 success, < 0 from fail()) as
// the entry point `function` (its __func__).
template <typename Body>
auto c_boundary(const char* function, Body&& body) noexcept -> decltype(body()) {
    const EntryPoint entry(function);
    try {
        clear_last_error();
        return body();
    } catch (...) {
        return fail_on_exception();
    }
}

// The whole body of a dt_ function that does one thing to a handle:
// refuses a NULL handle (named `name`), else runs action(*handle); 0.
template <typename Handle, typename Action>
int act_on(Handle* handle, const char* function, const char* name, Action&& action) noexcept {
    return c_boundary(function, [&] {
        if (!handle) return null_argument(name);
        action(*handle);
        return 0;
    });
}

// Returns the int for a Status: 0 or fail(error).
inline int status_code(const Status& status) { return status ? 0 : fail(status.error()); }

}  // namespace dtrack::capi
