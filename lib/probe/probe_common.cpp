// Shared vocabulary of the probes: building Feature entries, errno text.
#include <cstring>

#include "probe/probes.hpp"

namespace dtrack::probe {

Feature make_feature(const FeatureText& text) {
    Feature f;
    f.id = std::string(text.id);
    f.name = text.name;
    f.enables = text.enables;
    f.note = std::string("kconfig-notes/") + text.note;
    return f;
}

Feature available(const FeatureText& text, std::string detail) {
    Feature f = make_feature(text);
    f.available = true;
    f.detail = std::move(detail);
    return f;
}

Feature unavailable(const FeatureText& text, std::string reason) {
    Feature f = make_feature(text);
    f.reason = std::move(reason);
    f.fix = text.fix;
    return f;
}

Feature unavailable(const FeatureText& text, const Error& error) {
    Feature f = unavailable(text, error.what);
    if (!error.fix.empty()) f.fix = error.fix;
    return f;
}

std::string errno_text(int err) {
    // The kernel's own "not supported" code leaks out of some BPF paths;
    // libc has no name for it.
    if (err == 524) return "Operation not supported by the kernel (ENOTSUPP, 524)";
    const char* name = strerrorname_np(err);
    std::string text = std::strerror(err);
    if (name) text += std::string(" (") + name + ")";
    return text;
}

std::string failed(const std::string& call, int err) {
    return call + " failed: " + errno_text(err);
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

}  // namespace dtrack::probe
