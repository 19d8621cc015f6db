#include "probe/libbpf_log.hpp"

#include <cstdarg>
#include <cstdio>

namespace dtrack::probe {
namespace {

// The innermost capture of this thread; libbpf prints from the calling thread.
thread_local LibbpfLogCapture* current_capture = nullptr;
// What libbpf printed through before the outermost capture started.
libbpf_print_fn_t print_before_captures = nullptr;

}  // namespace

LibbpfLogCapture::LibbpfLogCapture() : outer_(current_capture) {
    previous_print_ = libbpf_set_print(&LibbpfLogCapture::print);
    if (!outer_) print_before_captures = previous_print_;
    current_capture = this;
}

LibbpfLogCapture::~LibbpfLogCapture() {
    current_capture = outer_;
    libbpf_set_print(previous_print_);
}

int LibbpfLogCapture::print(enum libbpf_print_level level, const char* format, va_list args) {
    LibbpfLogCapture* capture = current_capture;
    if (!capture) {
        // Another thread's libbpf use: behave as before the capture.
        return print_before_captures ? print_before_captures(level, format, args) : 0;
    }
    if (level == LIBBPF_DEBUG) return 0;
    char line[1024];
    int n = std::vsnprintf(line, sizeof line, format, args);
    capture->warnings_.emplace_back(line);
    return n;
}

std::string LibbpfLogCapture::first_warning() const {
    if (warnings_.empty()) return "";
    std::string text = warnings_.front();
    const std::string prefix = "libbpf: ";
    if (text.rfind(prefix, 0) == 0) text.erase(0, prefix.size());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
}

}  // namespace dtrack::probe
