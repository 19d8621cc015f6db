// DirtyRingProgram: bpf/dirty_ring.bpf.c in this process. RAII over its
// skeleton, with the steps bcc's libbpf-tools take, each one separate:
//
//   auto p = DirtyRingProgram::open();           // parse the object; nothing in the kernel yet
//   p->configure(layout, HookFamily::raw_tracepoint);  // target, map sizes, which entry points load
//   p->load();                                    // the verifier; maps created and mapped here
//   p->attach();                                  // hooks the tracepoints
//
// then read access to what the programs gathered, through the maps' mmaps
// (no syscall per read). Internal to lib/ (BpfSource) and the tests.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dirty_ring.h"  // bpf/: the map values, shared with the BPF program
#include "dtrack/error.hpp"
#include "sources/tracepoint_hooks.hpp"  // HookFamily

struct dirty_ring_bpf;
struct bpf_link;

namespace dtrack {

// The kernel events the program handles.
enum class DirtyRingHook : uint8_t { push, full_exit, reset, user_fault };

// "kvm:kvm_dirty_ring_push" and the like, for messages.
const char* tracepoint_name(DirtyRingHook hook);

struct DirtyRingLayout {
    pid_t target_tgid = 0;
    // Pages each memslot id's bitmap holds, index = id (< 65536); 0 = not
    // tracked. Its size is the number of slot ids watched (their seen_end is
    // kept tracked or not).
    std::vector<uint64_t> capacity;
    uint32_t words_per_slot = 1;  // >= every capacity / 64
    uint32_t max_vcpus = 1024;    // per-vCPU counters for vCPU ids below this
    bool user_faults = true;      // load the exceptions:page_fault_user hook (x86 only)

    // Slot ids [0, this) own bitmap words: one past the last tracked id.
    uint32_t bitmap_slots() const;
};

// What one attached hook gave, or why it did not attach.
struct HookStatus {
    DirtyRingHook hook;
    bool attached = false;
    std::string why_not;  // when not attached
};

class DirtyRingProgram {
public:
    static Result<std::unique_ptr<DirtyRingProgram>> open();
    ~DirtyRingProgram();
    DirtyRingProgram(const DirtyRingProgram&) = delete;
    DirtyRingProgram& operator=(const DirtyRingProgram&) = delete;

    // Before load: the target, the map sizes, the entry points of `family`.
    Status configure(const DirtyRingLayout& layout, HookFamily family);
    // The verifier; then maps the maps and writes the slot capacities.
    Status load();
    // Attaches every loaded entry point. The push hook is required (its
    // failure is the Error); the others may fail, and say why.
    Result<std::vector<HookStatus>> attach();

    HookFamily family() const { return family_; }
    const DirtyRingLayout& layout() const { return layout_; }

    // --- after load: shared memory with the programs -------------------------
    // Bitmap words of slot `id` (< layout().bitmap_slots()); the programs OR
    // bits in concurrently, so access them only with atomics.
    std::span<uint64_t> slot_words(uint32_t id);
    uint64_t seen_end(uint32_t id) const;  // highest offset pushed + 1; 0 = none
    dtrack_vcpu_counters vcpu(uint32_t index) const;
    dtrack_dirty_ring_totals totals() const;

    // The loaded program of `hook` in this family (for BPF_PROG_TEST_RUN and
    // run-time statistics), or -1.
    int program_fd(DirtyRingHook hook) const;

private:
    struct Mapping;
    DirtyRingProgram() = default;
    // mmaps an array map (kept in mappings_) and returns where.
    Result<void*> map_array(const char* what, int map_fd, size_t bytes);

    dirty_ring_bpf* skeleton_ = nullptr;
    DirtyRingLayout layout_;
    HookFamily family_ = HookFamily::raw_tracepoint;
    bool loaded_ = false;
    std::vector<bpf_link*> links_;
    std::vector<std::unique_ptr<Mapping>> mappings_;
    uint64_t* words_ = nullptr;
    dtrack_slot* slots_ = nullptr;
    dtrack_vcpu_counters* vcpus_ = nullptr;
};

}  // namespace dtrack
