// Shared vocabulary of the probes: building Feature entries.
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

}  // namespace dtrack::probe
