// VcpuRole: what a dtvm vCPU does with the working set.
//
// Writers are the workload the oracle checks: each stamps pages of its own
// part. Readers (--readers) come after them and only load from the whole
// working set, writing nothing to it, so that a run can show what slows a
// vCPU that dirties no memory: a per-vCPU dirty limit should leave readers
// alone, where auto-converge (the global throttle) slows them like the writers.
#pragma once

#include <cstdint>
#include <string>

namespace dtvm {

enum class VcpuRole : uint8_t { writer, reader };

// vCPUs [0, writers) write, the ones after them read.
inline VcpuRole role_of(uint32_t vcpu, uint32_t writers) {
    return vcpu < writers ? VcpuRole::writer : VcpuRole::reader;
}

inline std::string role_name(VcpuRole role) { return role == VcpuRole::writer ? "writer" : "reader"; }

}  // namespace dtvm
