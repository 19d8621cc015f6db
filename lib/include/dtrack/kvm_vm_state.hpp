// KvmStateReader: what the kernel says, right now, about the KVM VMs one
// process runs: whether each VM logs dirty pages, with the ring or the
// bitmap, and its memslots with their flags.
//
// A VMM that dtrack does not control switches dirty logging on and off on its
// own: QEMU sets KVM_MEM_LOG_DIRTY_PAGES on its memslots only while it
// migrates or runs calc-dirty-rate. While no memslot logs, no kernel event
// follows the guest's writes, so a figure from kernel events (ring pushes,
// bitmap bits) reads 0 although the guest writes: the state says which
// figure can be trusted. Read with a BPF iterator over the process's files
// (bpf/kvm_vm_state.bpf.c): nothing is hooked, each read() is one pass over
// the process's open files, and the VMM is not touched.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

struct KvmMemslotState {
    uint16_t address_space = 0;
    uint16_t id = 0;
    uint64_t base_gfn = 0;  // first guest page frame
    uint64_t pages = 0;
    uint64_t userspace_addr = 0;    // where the VMM maps it
    uint32_t flags = 0;             // KVM_MEM_* as the VMM set them
    bool logs_dirty = false;        // KVM_MEM_LOG_DIRTY_PAGES
    bool readonly = false;          // KVM_MEM_READONLY (ROM): never dirtied by the guest
    bool has_dirty_bitmap = false;  // the kernel keeps a dirty bitmap for it (logging without the ring)
};

// How a VM's writes reach its VMM right now.
enum class DirtyLogging : uint8_t {
    off,     // no memslot logs: no kernel record of the guest's writes
    ring,    // memslots log into the per-vCPU dirty rings
    bitmap,  // memslots log into the per-slot dirty bitmaps
};
const char* dirty_logging_name(DirtyLogging logging);  // "off" | "ring" | "bitmap"

struct KvmVmState {
    int fd = -1;                    // the VMM's fd of the VM (anon_inode:kvm-vm)
    uint32_t memslots_logging = 0;  // the kernel's own count (struct kvm's nr_memslots_dirty_logging)
    uint32_t ring_entries = 0;      // per vCPU; 0 = the VM uses the dirty bitmap
    bool manual_protect = false;    // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: the VMM clears with KVM_CLEAR_DIRTY_LOG
    std::vector<KvmMemslotState> memslots;  // every address space, in no particular order
    uint32_t memslots_unlisted = 0;         // memslots beyond what one read lists (thousands)

    DirtyLogging logging() const;
};

class KvmStateReader {
public:
    // Loads the iterator for process `pid` (as the initial PID namespace
    // numbers it). Fails with the cause and the fix where the kernel refuses
    // BPF iterators (no kernel BTF, no privileges) or the process is gone;
    // nothing stays loaded then.
    static Result<std::unique_ptr<KvmStateReader>> open(pid_t pid);
    ~KvmStateReader();
    KvmStateReader(const KvmStateReader&) = delete;
    KvmStateReader& operator=(const KvmStateReader&) = delete;

    // Every VM the process has open now (none for a process that runs no
    // VM, or one that has exited).
    Result<std::vector<KvmVmState>> read() const;

    pid_t pid() const { return pid_; }

private:
    struct Program;
    explicit KvmStateReader(pid_t pid);
    pid_t pid_;
    std::unique_ptr<Program> program_;
};

}  // namespace dtrack

DTRACK_PUBLIC_END
