// Labels a target carries beyond its name (e.g. a KubeVirt VM's pod,
// namespace and vm), served on dtrack_target_info in this order. Who
// discovers the target sets them, once, at attach; names are fixed by the
// discoverer (never read from the target), values are escaped when written.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace dtrack::cli::sidecar {

using ExtraLabels = std::vector<std::pair<std::string, std::string>>;  // (name, value), in order

}  // namespace dtrack::cli::sidecar
