// `dtrack doctor [--json]`: which kernel mechanisms for dirty page tracking
// work here, what each gives dtrack, and what to do about the missing ones.
#include <sys/utsname.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/installed_docs.hpp"
#include "commands.hpp"
#include "dtrack/features.hpp"
#include "text_wrap.hpp"

namespace dtrack::cli {
namespace {

struct DoctorOptions {
    bool json = false;
};

// Table layout: "yes  " + name column + text column = 80 characters.
constexpr std::size_t status_width = 5;
constexpr std::size_t name_width = 24;
constexpr std::size_t gap = 2;
constexpr std::size_t text_width = 80 - status_width - name_width - gap;

// A heading before the first entry of each group.
struct Section {
    std::string_view first_id;
    const char* heading;
};
constexpr Section sections[] = {
    {feature_id::kvm_dirty_ring, "KVM (VMMs embedding libdtrack, dtvm)"},
    {feature_id::userfaultfd_wp_async, "Process memory"},
    {feature_id::kernel_btf, "eBPF (BpfSource, the sidecar)"},
    {feature_id::privileges, "Access"},
};

struct Kernel {
    std::string release = "unknown";
    std::string machine = "unknown";
};

Kernel running_kernel() {
    Kernel k;
    utsname u{};
    if (::uname(&u) == 0) {
        k.release = u.release;
        k.machine = u.machine;
    }
    return k;
}

void print_entry(std::ostream& out, const Feature& f) {
    // Left: status and name. Right: what was found (or why not), what it
    // gives dtrack, and for missing ones the fix and the note.
    std::vector<std::string> text;
    auto add = [&](const std::string& prefix, const std::string& body) {
        if (body.empty()) return;
        for (auto& line : wrap(prefix + body, text_width)) text.push_back(line);
    };
    if (f.available) {
        add("", f.detail);
        add("gives: ", f.enables);
    } else {
        add("", f.reason);
        add("would give: ", f.enables);
        add("fix: ", f.fix);
    }
    std::vector<std::string> name = wrap(f.name, name_width);
    std::size_t rows = std::max(text.size(), name.size());
    for (std::size_t i = 0; i < rows; ++i) {
        std::string left = i == 0 ? (f.available ? "yes" : "no") : "";
        left.resize(status_width, ' ');
        std::string name_part = i < name.size() ? name[i] : "";
        name_part.resize(name_width + gap, ' ');
        std::string line = left + name_part + (i < text.size() ? text[i] : "");
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out << line << "\n";
    }
    // The note's installed path on a line of its own, whole (it would not
    // fit the text column), below the name column.
    if (!f.available) out << std::string(status_width, ' ') << "see " << installed_doc(f.note) << "\n";
}

// Which figure `dtrack rate` and the sidecar give another VMM here, by kind
// of VMM: what the probes above decide, said once for operators.
struct VmmView {
    const char* key;  // JSON
    const char* vmm;
    std::string figure;
};

std::vector<VmmView> vmm_views(const std::vector<Feature>& features) {
    const auto has = [&](std::string_view id) {
        const Feature* f = find_feature(features, id);
        return f && f->available;
    };
    const bool ring = has(feature_id::kvm_dirty_ring_tracepoints) && has(feature_id::bpf_raw_tracepoint);
    const bool iterator = has(feature_id::bpf_iterator);
    const std::string hashed = "hashing pages (an estimate with its bound)";
    return {
        {"dirty_ring", "a KVM VMM with the dirty ring (QEMU dirty-ring-size=N)",
         ring ? std::string("exact while it logs (kvm_dirty_ring_push), ") + hashed + " while it does not"
              : hashed + ": the kvm_dirty_ring_* tracepoints do not attach here"},
        {"dirty_bitmap", "a KVM VMM with the dirty bitmap (QEMU's default, Cloud Hypervisor, Firecracker)",
         iterator ? "exact while it logs (its dirty bitmaps, read by BPF), " + hashed + " while it does not"
                  : hashed + ": BPF iterators do not load here"},
        {"logging_state", "whether a VM logs dirty pages now",
         iterator ? "read from the kernel (struct kvm) every interval"
                  : "inferred from the ring's pushes (BPF iterators do not load here)"},
        {"other", "a process without KVM, or QEMU under TCG", hashed + ": the kernel keeps no record of its writes"},
    };
}

void print_table(std::ostream& out, const std::vector<Feature>& features, const Kernel& kernel) {
    out << "dtrack doctor: Linux " << kernel.release << " (" << kernel.machine << ")\n\n";
    std::string header = "ok?";
    header.resize(status_width, ' ');
    std::string name_header = "mechanism";
    name_header.resize(name_width + gap, ' ');
    out << header << name_header << "what was found; what it gives dtrack\n";
    std::size_t available = 0;
    for (const Feature& f : features) {
        for (const Section& s : sections)
            if (f.id == s.first_id) out << "\n" << s.heading << "\n" << std::string(80, '-') << "\n";
        print_entry(out, f);
        if (f.available) ++available;
    }
    std::string summary =
        std::to_string(available) + " of " + std::to_string(features.size()) + " mechanisms available.";
    if (available < features.size()) summary += " For each missing one, \"fix\" says what dtrack does instead.";
    out << "\n";
    for (const auto& line : wrap(summary, 80)) out << line << "\n";
    out << "\nWatching another VMM (dtrack rate, the sidecar), on this kernel:\n";
    for (const VmmView& v : vmm_views(features))
        for (const auto& line : wrap(std::string("- ") + v.vmm + ": " + v.figure, 78))
            out << (line[0] == '-' ? "" : "  ") << line << "\n";
}

nlohmann::json to_json(const std::vector<Feature>& features, const Kernel& kernel) {
    nlohmann::json list = nlohmann::json::array();
    nlohmann::json missing = nlohmann::json::array();
    for (const Feature& f : features) {
        list.push_back({{"id", f.id},
                        {"name", f.name},
                        {"available", f.available},
                        {"detail", f.detail},
                        {"enables", f.enables},
                        {"reason", f.reason},
                        {"fix", f.fix},
                        {"note", f.note}});
        if (!f.available) missing.push_back(f.id);
    }
    nlohmann::json views = nlohmann::json::object();
    for (const VmmView& v : vmm_views(features)) views[v.key] = {{"vmm", v.vmm}, {"figure", v.figure}};
    return {{"kernel", kernel.release},
            {"machine", kernel.machine},
            {"features", list},
            {"summary",
             {{"total", features.size()},
              {"available", features.size() - missing.size()},
              {"unavailable", missing.size()},
              {"unavailable_ids", missing}}},
            {"vmm_views", views}};
}

int run_doctor(const DoctorOptions& options) {
    auto features = probe_features();
    if (!features) {
        std::cerr << "dtrack doctor: cannot probe this system: " << features.error().message() << "\n";
        return exit_failure;
    }
    Kernel kernel = running_kernel();
    if (options.json) std::cout << to_json(*features, kernel).dump(2) << "\n";
    else print_table(std::cout, *features, kernel);
    return exit_ok;
}

}  // namespace

void add_doctor_command(CLI::App& app, ChosenCommand& chosen) {
    auto options = std::make_shared<DoctorOptions>();
    CLI::App* doctor = add_command(
        app, chosen, "doctor", "Check which kernel mechanisms for dirty page tracking work here", options, run_doctor);
    doctor->add_flag("--json", options->json, "Print one JSON document instead of the table");
}

}  // namespace dtrack::cli
