// BPF_PROG_TEST_RUN of a raw_tp program on made-up tracepoint arguments: the
// program runs in the calling thread, on the test's input only (it is loaded,
// never attached). Kernels before 5.10 cannot test-run raw_tp programs; the
// tests skip there.
#pragma once

#include <bpf/bpf.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "dtrack/error.hpp"

namespace dtrack_test {

// Runs program `fd` once on `args` (the tracepoint's arguments, one u64
// each). False when it did not run: `unsupported` is then set where the
// kernel cannot test-run raw_tp programs, and a failure is added otherwise.
inline bool test_run_raw_tp(int fd, std::vector<uint64_t> args, bool& unsupported) {
    bpf_test_run_opts opts{};
    opts.sz = sizeof opts;
    opts.ctx_in = args.data();
    opts.ctx_size_in = static_cast<__u32>(args.size() * sizeof(uint64_t));
    if (bpf_prog_test_run_opts(fd, &opts) == 0) return true;
    const int err = errno;
    // ENOTSUPP (524) or EINVAL: the kernel predates raw_tp test runs (5.10).
    if (err == 524 || err == EINVAL) unsupported = true;
    else ADD_FAILURE() << dtrack::errno_error("BPF_PROG_TEST_RUN", err).what;
    return false;
}

// The program `opened` (a DirtyRingProgram::open() or the like), set up by
// `configure(program)` and loaded, not attached; null, with the failure
// added, where a step failed.
template <typename Program, typename Configure>
std::unique_ptr<Program> load_for_test_runs(dtrack::Result<std::unique_ptr<Program>> opened, Configure&& configure) {
    if (!opened) {
        ADD_FAILURE() << opened.error().message();
        return nullptr;
    }
    dtrack::Status s = configure(**opened);
    if (s) s = (*opened)->load();
    if (!s) {
        ADD_FAILURE() << s.error().message();
        return nullptr;
    }
    return std::move(*opened);
}

}  // namespace dtrack_test

// Returns from the test when `call` (a test run) did not run; skips it where
// `unsupported` says the kernel cannot test-run raw_tp programs.
#define RAW_TP_RUN_OR_SKIP(call, unsupported)                                                                \
    do {                                                                                                     \
        if (!(call)) {                                                                                       \
            if (unsupported) GTEST_SKIP() << "this kernel cannot BPF_PROG_TEST_RUN raw_tp programs (5.10+)"; \
            return;                                                                                          \
        }                                                                                                    \
    } while (0)
