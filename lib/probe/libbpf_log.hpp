// Keeps libbpf quiet while probing, but keeps what it said.
//
// libbpf prints to stderr through one process-wide callback. While a capture
// is alive, messages printed by this thread are collected here (a failing
// probe is expected, its chatter is not for the user); messages from other
// threads go to the previous callback as before. Captures nest.
#pragma once

#include <bpf/libbpf.h>

#include <string>
#include <vector>

namespace dtrack::probe {

class LibbpfLogCapture {
public:
    LibbpfLogCapture();
    ~LibbpfLogCapture();
    LibbpfLogCapture(const LibbpfLogCapture&) = delete;
    LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

    // The first warning libbpf printed, without the "libbpf: " prefix and
    // trailing newline; "" if it printed none.
    std::string first_warning() const;
    void clear() { warnings_.clear(); }

private:
    static int print(enum libbpf_print_level level, const char* format, va_list args);

    std::vector<std::string> warnings_;
    libbpf_print_fn_t previous_print_ = nullptr;
    LibbpfLogCapture* outer_ = nullptr;  // the capture this one nests in
};

}  // namespace dtrack::probe
