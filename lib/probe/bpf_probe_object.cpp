#include "probe/bpf_probe_object.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "feature_probe.skel.h"
#include "common/libbpf_log.hpp"
#include "probe/probes.hpp"

namespace dtrack::probe {

void ProbeObjectDeleter::operator()(feature_probe_bpf* skeleton) const { feature_probe_bpf__destroy(skeleton); }

Result<ProbeObject> load_probe_programs(std::initializer_list<std::string_view> programs) {
    LibbpfLogCapture log;
    ProbeObject object(feature_probe_bpf__open());
    if (!object) {
        int err = errno;
        return Error{err, with_libbpf_words(errno_error("opening the BPF probe object", err).what, log), {}};
    }
    bpf_program* program = nullptr;
    bpf_object__for_each_program(program, object->obj) {
        bool wanted = std::find(programs.begin(), programs.end(), bpf_program__name(program)) != programs.end();
        bpf_program__set_autoload(program, wanted);
    }
    object->rodata->probe_tgid = static_cast<__u32>(::getpid());

    int rc = feature_probe_bpf__load(object.get());
    if (rc != 0) {
        // libbpf's words add nothing here (or blame RLIMIT_MEMLOCK, which
        // modern kernels do not use); the errno and our privileges say it.
        int err = -rc;
        if (err == EPERM && !may_load_tracing_bpf())
            return Error{err,
                         errno_error("BPF_PROG_LOAD", err).what +
                             ": this process lacks CAP_BPF and CAP_PERFMON "
                             "(or CAP_SYS_ADMIN)",
                         "run as root, or give dtrack CAP_BPF and CAP_PERFMON"};
        return Error{err, errno_error("BPF_PROG_LOAD", err).what, {}};
    }
    return object;
}

bpf_program* find_program(const ProbeObject& object, std::string_view name) {
    return bpf_object__find_program_by_name(object->obj, std::string(name).c_str());
}

Result<UniqueLink> attach(bpf_program* program) {
    LibbpfLogCapture log;
    UniqueLink link(bpf_program__attach(program));
    if (!link) {
        int err = errno;
        return Error{err, with_libbpf_words(errno_error("attach", err).what, log), {}};
    }
    return link;
}

std::uint64_t tracepoint_hits(const ProbeObject& object) {
    return __atomic_load_n(&object->bss->tracepoint_hits, __ATOMIC_RELAXED);
}

std::uint64_t raw_tracepoint_hits(const ProbeObject& object) {
    return __atomic_load_n(&object->bss->raw_tracepoint_hits, __ATOMIC_RELAXED);
}

}  // namespace dtrack::probe
