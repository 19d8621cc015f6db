// From a Workload to what each vCPU's guest reads in its parameter page:
// its own part of the working set, the pattern, the hot/cold thresholds in
// fixed point, a PRNG seed. A reader's part is the whole working set.
#pragma once

#include <cstdint>

#include "dtrack/error.hpp"
#include "dtvm/guest/guest_layout.hpp"
#include "dtvm/guest/param_page.hpp"
#include "dtvm/guest/workload.hpp"

namespace dtvm {

// vCPU `vcpu`'s part of a working set of `wss_pages` starting at `first_page`:
// parts are disjoint, cover the whole set, and differ by at most one page.
struct VcpuPart {
    uint64_t first_page;
    uint64_t pages;
};
VcpuPart vcpu_part(uint64_t first_page, uint64_t wss_pages, uint32_t vcpu, uint32_t vcpus);

// Bad input gets a clear error: a working set that does not fit, fractions
// outside 0..1, a rate limit the guest could not be paced to.
dtrack::Status check_workload(const Workload& workload, uint32_t vcpus, uint64_t max_pages);

struct GuestSetup {
    bool register_vif = false;  // PVM host and not VmOptions::emulated
    uint64_t epoch = 1;
    uint32_t writers = 1;  // vCPUs [0, writers) write their parts, the rest read (role_of)
};

// Fills the parameter page of `vcpu` before its first KVM_RUN.
void write_params(const ParamPage& params, const Workload& workload, const GuestLayout& layout, uint32_t vcpu,
                  uint64_t first_page, const GuestSetup& setup);

}  // namespace dtvm
