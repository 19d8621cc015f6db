// Kernel BTF: the kernel's own type information. bpftool turns it into
// vmlinux.h at build time, and libbpf needs it to relocate (CO-RE) and to
// load BTF-typed programs.
#include <sys/stat.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdio>
#include <memory>

#include "common/libbpf_log.hpp"
#include "probe/probes.hpp"

namespace dtrack::probe {
namespace {

constexpr const char* sysfs_btf = "/sys/kernel/btf/vmlinux";

constexpr FeatureText text{
    feature_id::kernel_btf,
    "Kernel BTF",
    "vmlinux.h from the running kernel; CO-RE field access in dtrack's BPF code",
    "build the kernel with CONFIG_DEBUG_INFO_BTF=y; until then dtrack's BPF code "
    "builds against bpf/compat/vmlinux_fallback.h",
    "btf.md",
};

struct BtfDeleter {
    void operator()(btf* b) const { btf__free(b); }
};

}  // namespace

Feature probe_kernel_btf() {
    struct stat st {};
    if (::stat(sysfs_btf, &st) != 0)
        return unavailable(text, errno_error(std::string("stat ") + sysfs_btf, errno).what);

    LibbpfLogCapture quiet;
    std::unique_ptr<btf, BtfDeleter> kernel(btf__load_vmlinux_btf());
    if (!kernel) return unavailable(text, errno_error("btf__load_vmlinux_btf", errno).what);

    char size[32];
    std::snprintf(size, sizeof size, "%.1f MiB", static_cast<double>(st.st_size) / (1 << 20));
    std::string detail =
        std::string(sysfs_btf) + ": " + std::to_string(btf__type_cnt(kernel.get())) + " types, " + size;
    // The sidecar's BPF code reads this record through CO-RE.
    if (btf__find_by_name_kind(kernel.get(), "trace_event_raw_kvm_dirty_ring_push", BTF_KIND_STRUCT) >= 0)
        detail += ", has the kvm_dirty_ring_push record";
    return available(text, detail);
}

}  // namespace dtrack::probe
