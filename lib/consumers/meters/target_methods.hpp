// The methods a TargetMeter runs on a target, each opened on its own: the
// kernel's record of a KVM VMM's dirty pages (its ring pushes, or its dirty
// bitmaps) and page hashing; and a method's per-vCPU view. Internal to lib/
// (target_meter.cpp).
#pragma once

#include <memory>
#include <string>

#include "dtrack/target_meter.hpp"

namespace dtrack {

// "pid 1234 (qemu-system-x86)": how messages name a target.
std::string who(const TargetProcess& t);

// The VMM's dirty-ring pushes (BpfSource); refused with the cause and the fix
// for a process without a dirty-ring VM.
Result<std::unique_ptr<TargetMethod>> open_ring_events(const TargetProcess& t, const TargetMeterOptions& o);
// The new bits of the VMM's dirty bitmaps (BpfBitmapSource).
Result<std::unique_ptr<TargetMethod>> open_bitmap_events(const TargetProcess& t, const TargetMeterOptions& o);
// Whichever of the two the VMM's VM has.
Result<std::unique_ptr<TargetMethod>> open_kernel_events(const TargetProcess& t, const TargetMeterOptions& o);
// Page hashing (SampleSource).
Result<std::unique_ptr<TargetMethod>> open_hashing(const TargetProcess& t, const TargetMeterOptions& o);

// Per-vCPU rates for `method` on `t`: the ring, or each thread's write faults
// (a ThreadWriteFaults and a ThreadWriteFaultSource added to its tracker), or
// no_vcpu_view saying why there are none.
void add_vcpu_view(TargetMethod& method, const TargetProcess& t);

}  // namespace dtrack
