#include "sources/tracepoint_hooks.hpp"

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include "common/installed_docs.hpp"
#include "common/host_files.hpp"
#include "dtrack/target_process.hpp"
#include "sources/tracefs_mount.hpp"

namespace dtrack {

const char* hook_family_name(HookFamily family) {
    return family == HookFamily::raw_tracepoint ? "raw tracepoint" : "tracepoint";
}

std::string hook_family_note(HookFamily family) {
    return installed_doc(family == HookFamily::raw_tracepoint ? "kconfig-notes/ebpf-raw-tracepoints.md"
                                                              : "kconfig-notes/ebpf-tracepoints.md");
}

std::vector<HookFamily> hook_rungs(BpfHooks hooks) {
    switch (hooks) {
        case BpfHooks::automatic: return {HookFamily::raw_tracepoint, HookFamily::tracepoint};
        case BpfHooks::raw_tracepoints: return {HookFamily::raw_tracepoint};
        case BpfHooks::tracepoints: return {HookFamily::tracepoint};
    }
    return {};
}

Status may_watch_with_bpf(pid_t pid, const std::string& other_way) {
    const std::string pid_text = std::to_string(pid);
    if (pid <= 0) return Error{EINVAL, "pid " + pid_text + " is not a process id", "give a PID > 0"};
    if (!process_alive(pid) || !std::filesystem::exists("/proc/" + pid_text))
        return Error{ESRCH, "no process " + pid_text, "check the PID (pidof, ps)"};
    // The tracepoint numbers processes as the initial PID namespace does; a
    // PID from a namespace of our own (a container) would never match, and
    // the figure would read 0, exact.
    if (!in_initial_pid_namespace())
        return Error{ENOTSUP,
                     "this process runs in a PID namespace of its own (a container), where pid " + pid_text +
                         " is not the number the kernel's tracepoints use, so BPF cannot pick out its writes",
                     std::string("run in the host's PID namespace (docker --pid=host, or nsenter -t 1 -p)") +
                         (other_way.empty() ? "" : ", or " + other_way)};
    if (!may_load_tracing_bpf())
        return Error{EPERM,
                     "watching process " + pid_text +
                         " with eBPF needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), which this process lacks",
                     "run as root, or give the binary CAP_BPF and CAP_PERFMON (setcap cap_bpf,cap_perfmon+ep); "
                     "see " +
                         installed_doc("kconfig-notes/privileges.md")};
    return Ok{};
}

Error load_refused(const std::string& object, HookFamily family, int err, const LibbpfLogCapture& log) {
    const std::string what = "loading " + object + " (" + hook_family_name(family) + "s) failed: " + errno_text(err);
    if (err == EPERM && !may_load_tracing_bpf())
        return Error{err, what + ": this process lacks CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
                     "run as root, or give the binary CAP_BPF and CAP_PERFMON (setcap cap_bpf,cap_perfmon+ep); "
                     "see " +
                         installed_doc("kconfig-notes/privileges.md")};
    if (err == EPERM)
        return Error{err, what + ": the kernel refuses these programs although this process may load tracing BPF",
                     std::string("check lockdown and the kernel's BPF options; see ") + hook_family_note(family)};
    return Error{err, with_libbpf_words(what, log), std::string("see ") + hook_family_note(family)};
}

bool HookLadder::prepare(HookFamily family, std::vector<std::string>& notes) {
    if (family != HookFamily::tracepoint) return true;
    auto place = ensure_tracefs();
    if (!place) {
        failed(family, place.error());
        return false;
    }
    if (place->mounted_by_us)
        notes.push_back("tracefs was not mounted: dtrack mounted it at " + place->path +
                        " for the tp/ programs (it stays mounted)");
    return true;
}

void HookLadder::failed(HookFamily family, const Error& e, const std::vector<std::string>& notes) {
    std::string failure = std::string("as a ") + hook_family_name(family) + ": " + e.what;
    for (const std::string& n : notes) failure += " (" + n + ")";
    failures_.push_back(std::move(failure));
    fixes_.push_back(e.fix);
    last_errno_ = e.errno_value;
}

void HookLadder::note_fallback(HookFamily family, std::vector<std::string>& notes) const {
    if (failures_.empty()) return;
    notes.insert(notes.begin(),
                 "raw tracepoints failed (" + join(failures_, "; ") + "); using " + hook_family_name(family) + "s");
}

Error HookLadder::error(const std::string& what) const {
    std::vector<std::string> distinct_fixes;
    for (const std::string& f : fixes_)
        if (!f.empty() && std::find(distinct_fixes.begin(), distinct_fixes.end(), f) == distinct_fixes.end())
            distinct_fixes.push_back(f);
    return Error{last_errno_, what + ": " + join(failures_, "; "), join(distinct_fixes, "; or ")};
}

}  // namespace dtrack
