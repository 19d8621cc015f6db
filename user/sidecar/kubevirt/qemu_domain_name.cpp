#include "qemu_domain_name.hpp"

#include <vector>

namespace dtrack::cli::sidecar {

namespace {

std::vector<std::string_view> arguments(std::string_view cmdline) {
    std::vector<std::string_view> out;
    for (size_t at = 0; at < cmdline.size();) {
        const size_t end = std::min(cmdline.find('\0', at), cmdline.size());
        out.push_back(cmdline.substr(at, end - at));
        at = end + 1;
    }
    return out;
}

// QEMU's option syntax: the first value up to a single ',' (",," is a ',').
std::string first_value(std::string_view text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] != ',') {
            out += text[i];
        } else if (i + 1 < text.size() && text[i + 1] == ',') {
            out += ',';
            ++i;
        } else {
            break;
        }
    }
    return out;
}

}  // namespace

std::optional<std::string> qemu_domain_name(std::string_view cmdline) {
    const std::vector<std::string_view> args = arguments(cmdline);
    for (size_t i = 1; i + 1 < args.size(); ++i) {
        if (args[i] != "-name" && args[i] != "--name") continue;
        std::string_view value = args[i + 1];
        if (value.starts_with("guest=")) value.remove_prefix(6);
        return first_value(value);
    }
    return std::nullopt;
}

std::optional<NamespacedName> split_kubevirt_domain(std::string_view domain) {
    const size_t at = domain.find('_');
    if (at == std::string_view::npos || at == 0 || at + 1 == domain.size()) return std::nullopt;
    return NamespacedName{std::string(domain.substr(0, at)), std::string(domain.substr(at + 1))};
}

}  // namespace dtrack::cli::sidecar
