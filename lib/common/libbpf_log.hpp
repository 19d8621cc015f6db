// lib/common/ is the common room: helpers that the sources (lib/sources/) and
// the feature probes (lib/probe/) both use, so that neither layer reaches
// into the other's directory for them. It is header-only for now, because the
// build compiles only lib/{engine,sources,consumers,probe}/*.cpp. (The errno
// formatter lives with Error: dtrack::errno_text in dtrack/error.hpp.)
//
// LibbpfLogCapture keeps libbpf quiet while it is alive, but keeps what it
// said. libbpf prints to stderr through one process-wide callback. While a
// capture is alive, messages printed by this thread are collected here (a
// failing probe or attach is expected, its chatter is not for the user);
// messages from other threads go to the previous callback as before.
// Captures nest.
#pragma once

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <vector>

namespace dtrack {

class LibbpfLogCapture {
public:
    LibbpfLogCapture() : outer_(current_) {
        previous_print_ = libbpf_set_print(&LibbpfLogCapture::print);
        if (!outer_) print_before_captures_ = previous_print_;
        current_ = this;
    }
    ~LibbpfLogCapture() {
        current_ = outer_;
        libbpf_set_print(previous_print_);
    }
    LibbpfLogCapture(const LibbpfLogCapture&) = delete;
    LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;

    // The first warning libbpf printed, without the "libbpf: " prefix and
    // trailing newline; "" if it printed none.
    std::string first_warning() const {
        if (warnings_.empty()) return "";
        std::string text = warnings_.front();
        const std::string prefix = "libbpf: ";
        if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        return text;
    }
    void clear() { warnings_.clear(); }

private:
    static int print(enum libbpf_print_level level, const char* format, va_list args) {
        LibbpfLogCapture* capture = current_;
        if (!capture) {
            // Another thread's libbpf use: behave as before the capture.
            return print_before_captures_ ? print_before_captures_(level, format, args) : 0;
        }
        if (level == LIBBPF_DEBUG) return 0;
        char line[1024];
        const int n = std::vsnprintf(line, sizeof line, format, args);
        capture->warnings_.emplace_back(line);
        return n;
    }

    // The innermost capture of this thread; libbpf prints from the calling thread.
    static inline thread_local LibbpfLogCapture* current_ = nullptr;
    // What libbpf printed through before the outermost capture started.
    static inline libbpf_print_fn_t print_before_captures_ = nullptr;

    std::vector<std::string> warnings_;
    libbpf_print_fn_t previous_print_ = nullptr;
    LibbpfLogCapture* outer_ = nullptr;  // the capture this one nests in
};

// `what`, with libbpf's own words when it said something beyond the errno.
inline std::string with_libbpf_words(std::string what, const LibbpfLogCapture& log) {
    const std::string words = log.first_warning();
    return words.empty() ? what : what + " (libbpf: " + words + ")";
}

}  // namespace dtrack
