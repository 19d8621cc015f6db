// The pod a container belongs to, from the annotations of its OCI bundle's
// config.json, which the runtime writes from what the kubelet asked:
//   containerd: io.kubernetes.cri.sandbox-name, io.kubernetes.cri.sandbox-namespace,
//               io.kubernetes.cri.container-name
//   CRI-O:      io.kubernetes.pod.name, io.kubernetes.pod.namespace,
//               io.kubernetes.container.name (the kubelet's labels, which
//               CRI-O copies into the annotations)
// Only the top-level "annotations" object is kept, with a SAX parse that
// gives up past a nesting depth, so a file of any shape costs its size and
// no more.
#pragma once

#include <string>
#include <string_view>

#include "dtrack/error.hpp"

namespace dtrack::cli::sidecar {

struct PodAnnotations {
    std::string pod;  // the pod's name
    std::string namespace_;
    std::string container;  // the container's name in the pod
    bool operator==(const PodAnnotations&) const = default;
};

// Errors: not JSON, too deep, or an annotation missing (the message names it).
Result<PodAnnotations> pod_annotations_of(std::string_view config_json);

}  // namespace dtrack::cli::sidecar
