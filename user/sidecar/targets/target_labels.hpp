// Labels a target carries besides the sidecar's own (target, pid, comm, ...):
// who the process is to whatever runs it, such as libvirt's domain name and
// UUID, or KubeVirt's pod, namespace and VM. They come from things a local
// user controls (a command line, a pod spec), so each is bounded: a few
// labels, names checked against the exposition format's rule, values cut to
// a length (the exposition format escapes what is left). Kept in the order
// added; dtrack_target_info shows them after its own labels.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dtrack::cli::sidecar {

struct TargetLabel {
    std::string name;
    std::string value;
    bool operator==(const TargetLabel&) const = default;
};

class TargetLabels {
public:
    static constexpr size_t max_labels = 8;
    // Longer values are cut (at a UTF-8 character boundary): a label value
    // goes into every scrape, and a process may make its name as long as it likes.
    static constexpr size_t max_value_bytes = 128;

    // Adds name=value. False, and nothing added, for a name the exposition
    // format does not allow ([a-zA-Z_][a-zA-Z0-9_]*, no leading "__"), a name
    // already there, an empty value, or a label past max_labels.
    bool add(std::string_view name, std::string_view value);

    const std::vector<TargetLabel>& all() const { return labels_; }
    bool empty() const { return labels_.empty(); }
    bool operator==(const TargetLabels&) const = default;

private:
    std::vector<TargetLabel> labels_;
};

// `value` cut to at most `max_bytes`, never inside a UTF-8 sequence.
std::string cut_at_character(std::string_view value, size_t max_bytes);

}  // namespace dtrack::cli::sidecar
