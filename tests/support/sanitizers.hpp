// Whether this suite (and so the dtrack and dtvm it runs, built alike) runs
// under a sanitizer (make asan / make tsan). Sanitized code runs several times
// slower, so a dtvm guest paced at N writes/s falls short of N and its check
// pauses last longer: tests that measure such rates still run everything
// else under the sanitizer and then skip, saying so, instead of checking the
// rate numbers.
#pragma once

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DTRACK_SANITIZED 1
#else
#define DTRACK_SANITIZED 0
#endif

namespace dtrack_test {
inline constexpr bool kSanitized = DTRACK_SANITIZED;
inline constexpr const char* kRatesNotCheckedWhenSanitized =
    "the rate numbers are not checked under a sanitizer: the sanitized dtvm cannot keep its guest's pace, "
    "everything else in this test was checked";
}  // namespace dtrack_test
