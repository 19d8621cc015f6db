#include "dtrack/kvm_vm_state.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/kvm.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "common/installed_docs.hpp"
#include "common/host_files.hpp"
#include "common/libbpf_log.hpp"
#include "dtrack/unique_fd.hpp"
#include "kvm_vm_state.h"  // bpf/: the records
#include "kvm_vm_state.skel.h"
#include "sources/tracepoint_hooks.hpp"

namespace dtrack {

const char* dirty_logging_name(DirtyLogging logging) {
    switch (logging) {
        case DirtyLogging::off: return "off";
        case DirtyLogging::ring: return "ring";
        case DirtyLogging::bitmap: return "bitmap";
    }
    return "?";
}

DirtyLogging KvmVmState::logging() const {
    if (memslots_logging == 0) return DirtyLogging::off;
    return ring_entries ? DirtyLogging::ring : DirtyLogging::bitmap;
}

struct KvmStateReader::Program {
    kvm_vm_state_bpf* skeleton = nullptr;
    bpf_link* link = nullptr;
    ~Program() {
        if (link) bpf_link__destroy(link);
        if (skeleton) kvm_vm_state_bpf__destroy(skeleton);
    }
};

namespace {

const std::string kNote = installed_doc("kconfig-notes/bpf-iterators.md");

Error iterator_refused(const std::string& step, int err, const LibbpfLogCapture& log) {
    const std::string what =
        with_libbpf_words("reading a VM's dirty-logging state: " + step + " failed: " + errno_text(err), log);
    if (err == EPERM && !may_load_tracing_bpf())
        return Error{err, what + ": this process lacks CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
                     "run as root, or give the binary CAP_BPF and CAP_PERFMON; see " +
                         installed_doc("kconfig-notes/privileges.md")};
    return Error{err, what,
                 std::string("BPF task_file iterators need Linux 5.8 or later with kernel BTF "
                             "(CONFIG_DEBUG_INFO_BTF=y); see ") +
                     kNote};
}

}  // namespace

KvmStateReader::KvmStateReader(pid_t pid) : pid_(pid), program_(std::make_unique<Program>()) {}
KvmStateReader::~KvmStateReader() = default;

Result<std::unique_ptr<KvmStateReader>> KvmStateReader::open(pid_t pid) {
    if (Status s = may_watch_with_bpf(pid, "use --method sample"); !s) return s.error();
    if (::access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return Error{ENOTSUP,
                     "reading a VM's dirty-logging state needs kernel BTF, and this kernel has none "
                     "(/sys/kernel/btf/vmlinux is missing)",
                     std::string("use a kernel built with CONFIG_DEBUG_INFO_BTF=y; see ") + kNote};
    LibbpfLogCapture log;
    std::unique_ptr<KvmStateReader> reader(new KvmStateReader(pid));
    Program& p = *reader->program_;
    p.skeleton = kvm_vm_state_bpf__open();
    if (!p.skeleton) return iterator_refused("opening bpf/kvm_vm_state", errno, log);
    p.skeleton->rodata->target_tgid = static_cast<__u32>(pid);
    if (int rc = kvm_vm_state_bpf__load(p.skeleton); rc != 0) return iterator_refused("loading the iterator", -rc, log);
    // Only this process's files: the kernel walks one task (Linux 6.1+); an
    // older kernel walks every task and the program's own filter keeps one.
    union bpf_iter_link_info info = {};
    info.task.pid = static_cast<__u32>(pid);
    LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
    p.link = bpf_program__attach_iter(p.skeleton->progs.kvm_vm_state, &opts);
    if (!p.link && errno == EINVAL) p.link = bpf_program__attach_iter(p.skeleton->progs.kvm_vm_state, nullptr);
    if (!p.link) {
        const int err = errno;
        if (err == ESRCH || err == ENOENT) return Error{ESRCH, "no process " + std::to_string(pid), "check the PID"};
        return iterator_refused("attaching the iterator", err, log);
    }
    return reader;
}

Result<std::vector<KvmVmState>> KvmStateReader::read() const {
    UniqueFd iter(bpf_iter_create(bpf_link__fd(program_->link)));
    if (!iter.valid()) return errno_error("bpf_iter_create (reading a VM's dirty-logging state)", errno);
    std::string bytes;
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(iter.get(), buffer, sizeof buffer);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno_error("reading the VM-state iterator", errno);
        }
        bytes.append(buffer, size_t(n));
    }
    // Memslot records, then the VM record that ends them (bpf/kvm_vm_state.h).
    std::vector<KvmVmState> vms;
    std::vector<KvmMemslotState> pending;
    for (size_t at = 0; at + sizeof(__u32) <= bytes.size();) {
        __u32 kind = 0;
        std::memcpy(&kind, bytes.data() + at, sizeof kind);
        if (kind == DTRACK_KVM_RECORD_MEMSLOT && at + sizeof(dtrack_kvm_memslot) <= bytes.size()) {
            dtrack_kvm_memslot r;
            std::memcpy(&r, bytes.data() + at, sizeof r);
            at += sizeof r;
            pending.push_back({.address_space = r.address_space,
                               .id = r.id,
                               .base_gfn = r.base_gfn,
                               .pages = r.pages,
                               .userspace_addr = r.userspace_addr,
                               .flags = r.flags,
                               .logs_dirty = (r.flags & KVM_MEM_LOG_DIRTY_PAGES) != 0,
                               .readonly = (r.flags & KVM_MEM_READONLY) != 0,
                               .has_dirty_bitmap = r.has_dirty_bitmap != 0});
        } else if (kind == DTRACK_KVM_RECORD_VM && at + sizeof(dtrack_kvm_vm) <= bytes.size()) {
            dtrack_kvm_vm r;
            std::memcpy(&r, bytes.data() + at, sizeof r);
            at += sizeof r;
            KvmVmState vm{.fd = int(r.fd),
                          .memslots_logging = r.memslots_logging > 0 ? __u32(r.memslots_logging) : 0,
                          .ring_entries = r.dirty_ring_bytes / 16,  // struct kvm_dirty_gfn is 16 bytes
                          .manual_protect = r.manual_protect != 0,
                          .memslots = std::move(pending),
                          .memslots_unlisted = r.memslots_unlisted};
            pending.clear();
            vms.push_back(std::move(vm));
        } else {
            return Error{
                EPROTO,
                "the VM-state iterator wrote a record this build does not know (kind " + std::to_string(kind) + ")",
                "rebuild dtrack: its BPF object and library disagree"};
        }
    }
    return vms;
}

}  // namespace dtrack
