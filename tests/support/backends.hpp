// Shared by the tests that run dtvm: which backends this machine has.
//
// The process backend runs everywhere; the KVM backend where /dev/kvm works
// (opens and speaks KVM API 12: a node that is not KVM, or none, does not
// count). A test that needs KVM skips with the reason; tests parameterized
// by backend run their process instance everywhere, so the same check runs
// on every machine. The suite's closing lines say which backends ran.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "dtvm/vm/backend.hpp"

namespace dtrack_test {

// Empty when KVM works here, else why not (asked once).
const std::string& kvm_unusable_reason();
// Counts a test that ran a dtvm guest on `backend`, for the closing line.
void note_backend_ran(dtvm::Backend backend);
// "dtvm backends: process ran 12 tests, kvm ran 30 tests" or "... kvm skipped (why)".
std::string backends_summary();

inline std::string backend_label(dtvm::Backend b) { return dtvm::backend_name(b); }

}  // namespace dtrack_test

#define DTRACK_REQUIRE_KVM()                                                                                       \
    do {                                                                                                           \
        if (!dtrack_test::kvm_unusable_reason().empty())                                                           \
            GTEST_SKIP() << "needs KVM, and " << dtrack_test::kvm_unusable_reason()                                \
                         << " (the process-backend instance of this check runs here instead, where there is one)"; \
        dtrack_test::note_backend_ran(dtvm::Backend::kvm);                                                         \
    } while (0)

// For tests parameterized by backend: skips the KVM instance without KVM.
#define DTRACK_REQUIRE_BACKEND(backend)                            \
    do {                                                           \
        if ((backend) == dtvm::Backend::kvm) {                     \
            DTRACK_REQUIRE_KVM();                                  \
        } else {                                                   \
            dtrack_test::note_backend_ran(dtvm::Backend::process); \
        }                                                          \
    } while (0)
