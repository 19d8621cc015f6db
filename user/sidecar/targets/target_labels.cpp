#include "target_labels.hpp"

#include <algorithm>

namespace dtrack::cli::sidecar {

namespace {

bool is_label_name(std::string_view name) {
    const auto letter = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
    if (name.empty() || !letter(name.front()) || name.starts_with("__")) return false;
    return std::all_of(name.begin(), name.end(), [&](char c) { return letter(c) || (c >= '0' && c <= '9'); });
}

}  // namespace

bool TargetLabels::add(std::string_view name, std::string_view value) {
    if (!is_label_name(name) || value.empty() || labels_.size() >= max_labels) return false;
    if (std::any_of(labels_.begin(), labels_.end(), [&](const TargetLabel& l) { return l.name == name; })) return false;
    labels_.push_back({std::string(name), cut_at_character(value, max_value_bytes)});
    return true;
}

std::string cut_at_character(std::string_view value, size_t max_bytes) {
    if (value.size() <= max_bytes) return std::string(value);
    size_t end = max_bytes;
    // Back off continuation bytes (10xxxxxx) so the cut falls before a lead byte.
    while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
    return std::string(value.substr(0, end));
}

}  // namespace dtrack::cli::sidecar
