// Errors as values: what went wrong, why, and what the user can do about it.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct Error {
    int errno_value = 0;  // the failing call's errno, 0 when not from a syscall
    std::string what;     // "KVM_CREATE_VM failed: Permission denied"
    std::string fix;      // "run as root or add yourself to the kvm group"

    // "what (fix)" on one line, for messages to people.
    std::string message() const { return fix.empty() ? what : what + "; fix: " + fix; }
};

// The one errno formatter: "Operation not permitted (EPERM)"; it also names
// kernel-internal errnos that strerror does not know (524 is ENOTSUPP).
std::string errno_text(int err);

// Builds an Error from errno after a failed call named `call`: its what is
// "CALL failed: <errno_text>".
Error errno_error(const std::string& call, int err, std::string fix = {});

// A value or an Error. Small on purpose: C++20 has no std::expected.
// [[nodiscard]]: an error nobody looks at is an error lost; where ignoring
// one is really right, say why and cast to void.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }
    T& value() { return std::get<T>(v_); }
    const T& value() const { return std::get<T>(v_); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() { return value(); }
    const T& operator*() const { return value(); }
    const Error& error() const { return std::get<Error>(v_); }

private:
    std::variant<T, Error> v_;
};

// For calls that return nothing but may fail.
struct Ok {};
using Status = Result<Ok>;

}  // namespace dtrack

DTRACK_PUBLIC_END
