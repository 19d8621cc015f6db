#include "qemu_identity.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <vector>

#include "dtrack/unique_fd.hpp"

namespace dtrack::cli::sidecar {

namespace {

std::vector<std::string_view> arguments(std::string_view cmdline) {
    std::vector<std::string_view> out;
    while (!cmdline.empty()) {
        const size_t end = cmdline.find('\0');
        out.push_back(cmdline.substr(0, end));
        if (end == std::string_view::npos) break;
        cmdline.remove_prefix(end + 1);
    }
    return out;
}

bool is_qemu(std::string_view argv0) {
    const size_t slash = argv0.rfind('/');
    return argv0.substr(slash == std::string_view::npos ? 0 : slash + 1).starts_with("qemu");
}

// The value of option `name` (-name or --name; "-name X" or "-name=X"); the last one counts, as in QEMU.
std::optional<std::string_view> option(const std::vector<std::string_view>& args, std::string_view name) {
    std::optional<std::string_view> found;
    for (size_t i = 1; i < args.size(); ++i) {
        std::string_view a = args[i];
        if (!a.starts_with("-")) continue;
        a.remove_prefix(a.starts_with("--") ? 2 : 1);
        if (a == name && i + 1 < args.size()) found = args[++i];
        else if (a.starts_with(name) && a.size() > name.size() && a[name.size()] == '=')
            found = a.substr(name.size() + 1);
    }
    return found;
}

// QEMU's option syntax: parameters split at a single ',', ",," a literal comma.
std::vector<std::string> parameters(std::string_view value) {
    std::vector<std::string> out(1);
    for (size_t i = 0; i < value.size(); ++i) {
        if (value[i] != ',') out.back() += value[i];
        else if (i + 1 < value.size() && value[i + 1] == ',') out.back() += value[i++];
        else out.emplace_back();
    }
    return out;
}

// -name's guest: "guest=NAME", or a first parameter with no '=' (QEMU's implied key).
std::optional<std::string> guest_name(std::string_view value) {
    const std::vector<std::string> params = parameters(value);
    for (const std::string& p : params)
        if (p.starts_with("guest=")) return p.substr(6);
    if (params.front().find('=') == std::string::npos) return params.front();
    return std::nullopt;
}

bool is_uuid(std::string_view s) {
    if (s.size() != 36) return false;
    for (size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
    }
    return true;
}

}  // namespace

TargetLabels qemu_identity_labels(std::string_view cmdline) {
    TargetLabels labels;
    const std::vector<std::string_view> args = arguments(cmdline);
    if (args.empty() || !is_qemu(args[0])) return labels;
    if (const auto name = option(args, "name"))
        if (const auto guest = guest_name(*name)) labels.add("domain", *guest);
    if (const auto uuid = option(args, "uuid"); uuid && is_uuid(*uuid)) {
        std::string lower(*uuid);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        labels.add("uuid", lower);
    }
    return labels;
}

TargetLabels qemu_identity_labels(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/cmdline";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) return {};
    std::string cmdline(max_cmdline_bytes, '\0');
    size_t have = 0;
    while (have < cmdline.size()) {
        const ssize_t n = ::read(fd.get(), cmdline.data() + have, cmdline.size() - have);
        if (n <= 0) break;
        have += size_t(n);
    }
    cmdline.resize(have);
    // Cut short: the last argument may be only part of one, so it is left out.
    if (have == max_cmdline_bytes) {
        const size_t last_end = cmdline.rfind('\0');
        cmdline.resize(last_end == std::string::npos ? 0 : last_end);
    }
    return qemu_identity_labels(cmdline);
}

}  // namespace dtrack::cli::sidecar
