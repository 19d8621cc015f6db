// Structs that start with `size_t sz` (libbpf's opts convention): the caller
// says how large its struct is, so a field added at the end in a later
// version neither breaks old callers nor is silently dropped.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "capi/capi_boundary.hpp"

namespace dtrack::capi {

// An sz too small to hold even itself: the caller forgot to set it.
inline int bad_sz(const char* type, size_t sz) {
    return invalid(std::string("struct ") + type + ": sz is " + std::to_string(sz),
                   std::string("set sz = sizeof(struct ") + type + ") before passing it");
}

// Copies the caller's options into `out` (zero-initialized: the fields its
// sz does not reach keep their defaults). NULL options are all defaults.
// Refuses an sz too small to be real, and a larger struct (from a newer
// dtrack.h) that sets a field this library does not know. Returns 0 or fail().
template <typename T>
int read_options(const T* options, const char* type, T& out) {
    out = T{};
    if (!options) return 0;
    const size_t sz = options->sz;
    if (sz < sizeof(size_t)) return bad_sz(type, sz);
    const auto* bytes = reinterpret_cast<const unsigned char*>(options);
    for (size_t i = sizeof(T); i < sz; ++i)
        if (bytes[i] != 0)
            return invalid(std::string("struct ") + type + " is " + std::to_string(sz) +
                               " bytes and sets a field this libdtrack (" + std::to_string(sizeof(T)) +
                               " bytes) does not know",
                           "build against the dtrack.h of the libdtrack you run, or upgrade libdtrack");
    std::memcpy(&out, options, std::min(sz, sizeof(T)));
    return 0;
}

// Checks a caller's result struct before anything is done, so a bad one
// changes nothing: NULL is refused when `required`, else means "no result".
template <typename T>
int check_result(const T* out, const char* type, bool required) {
    if (!out)
        return required ? invalid(std::string("struct ") + type + " pointer is NULL", "pass a struct to fill") : 0;
    if (out->sz < sizeof(size_t)) return bad_sz(type, out->sz);
    return 0;
}

// Fills as many fields of a checked result struct as its sz holds (sz itself
// is left alone); NULL is ignored.
template <typename T>
void write_result(T* out, const T& full) {
    if (!out) return;
    const size_t n = std::min(out->sz, sizeof(T));
    std::memcpy(reinterpret_cast<unsigned char*>(out) + sizeof(size_t),
                reinterpret_cast<const unsigned char*>(&full) + sizeof(size_t), n - sizeof(size_t));
}

}  // namespace dtrack::capi
