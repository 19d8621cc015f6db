// Which BPF program types load and attach: tp/, raw_tp/, BPF_PROG_TEST_RUN,
// fentry, tp_btf, kprobe. Each one is tried alone (see bpf_probe_object.hpp).
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include <cerrno>

#include "probe/bpf_probe_object.hpp"
#include "probe/probes.hpp"

namespace dtrack::probe {
namespace {

constexpr FeatureText tracepoint_text{
    feature_id::bpf_tracepoint,
    "eBPF tracepoint programs (tp/)",
    "BpfSource on kernel tracepoints (typed records via tracefs ids)",
    "build the kernel with CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS; run as root",
    "ebpf-tracepoints.md",
};
constexpr FeatureText raw_tracepoint_text{
    feature_id::bpf_raw_tracepoint,
    "eBPF raw tracepoint programs (raw_tp/)",
    "BpfSource hooks by tracepoint name, no tracefs needed; the sidecar uses them",
    "build the kernel with CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS; run as root",
    "ebpf-raw-tracepoints.md",
};
constexpr FeatureText test_run_text{
    feature_id::bpf_prog_test_run,
    "BPF_PROG_TEST_RUN of raw_tp programs",
    "dtrack's BPF handler tests run its programs on made-up input",
    "needs Linux 5.10+ for raw_tp test runs; dtrack's BPF handler tests are "
    "skipped without it",
    "ebpf-raw-tracepoints.md",
};
constexpr FeatureText fentry_text{
    feature_id::bpf_fentry,
    "fentry programs (BPF trampolines)",
    "nothing dtrack needs: it hooks tracepoints (tp/, raw_tp/) instead",
    "nothing to do: dtrack uses tp/ and raw_tp/ programs instead, so nothing is lost",
    "fentry.md",
};
constexpr FeatureText tp_btf_text{
    feature_id::bpf_tp_btf,
    "BTF tracepoint programs (tp_btf/)",
    "nothing dtrack needs: typed raw tracepoints; dtrack uses raw_tp/",
    "nothing to do: dtrack uses tp/ and raw_tp/ programs instead, so nothing is lost",
    "fentry.md",
};
constexpr FeatureText kprobe_text{
    feature_id::bpf_kprobe,
    "kprobe programs",
    "nothing dtrack needs: it hooks tracepoints, not kernel functions",
    "nothing to do: dtrack does not use kprobes (tracepoints cover its needs)",
    "kprobes.md",
};

// One syscall of our own, so sys_enter programs have something to count.
void make_a_syscall() { ::syscall(SYS_getpid); }

// Loads one program, attaches it and checks that it ran for our syscall.
Outcome load_attach_and_fire(const char* program, const char* where, std::uint64_t (*hits)(const ProbeObject&)) {
    auto object = load_probe_programs({program});
    if (!object) return {false, object.error().what};
    auto link = attach(find_program(*object, program));
    if (!link) return {false, "loaded, but " + link.error().what};
    make_a_syscall();
    if (hits(*object) == 0) return {false, std::string("attached to ") + where + ", but it never ran"};
    return {true, std::string("loaded, attached to ") + where + ", fired"};
}

// A load failure of a program type; EPERM with full privileges is kernel
// policy, not ours.
Error load_refusal(Error error, const char* kind) {
    if (error.errno_value == EPERM && may_load_tracing_bpf())
        error.what += std::string(": the kernel refuses ") + kind +
                      " here although this process has CAP_BPF and CAP_PERFMON (seen on "
                      "lockdown and PVM kernel builds)";
    return error;
}

Feature probe_tracepoint() {
    bool tracefs_was_mounted = !mounted_tracefs().empty();
    Outcome outcome = run_with_tracefs(
        [] { return load_attach_and_fire("probe_tracepoint", "raw_syscalls:sys_enter", tracepoint_hits); });
    if (!outcome.ok) return unavailable(tracepoint_text, outcome.text);
    if (!tracefs_was_mounted)
        outcome.text +=
            "; tracefs not mounted: dtrack mounts it at /sys/kernel/tracing or uses "
            "raw tracepoints";
    return available(tracepoint_text, outcome.text);
}

Feature probe_raw_tracepoint() {
    Outcome outcome = load_attach_and_fire("probe_raw_tracepoint", "sys_enter", raw_tracepoint_hits);
    if (!outcome.ok) return unavailable(raw_tracepoint_text, outcome.text);
    return available(raw_tracepoint_text, outcome.text);
}

Feature probe_test_run() {
    auto object = load_probe_programs({"probe_test_run"});
    if (!object) return unavailable(test_run_text, object.error());

    // The program returns args[0] + 1: seeing 42 proves our input reached it.
    __u64 args[2] = {41, 0};
    bpf_test_run_opts opts{};
    opts.sz = sizeof opts;
    opts.ctx_in = args;
    opts.ctx_size_in = sizeof args;
    int fd = bpf_program__fd(find_program(*object, "probe_test_run"));
    if (bpf_prog_test_run_opts(fd, &opts) != 0)
        return unavailable(test_run_text, errno_error("BPF_PROG_TEST_RUN", errno).what);
    if (opts.retval != 42)
        return unavailable(test_run_text,
                           "BPF_PROG_TEST_RUN returned " + std::to_string(opts.retval) + ", expected 42");
    return available(test_run_text, "ran a raw_tp program on a given context, got its result");
}

// fentry and tp_btf: load, then attach where the SEC() says.
Feature probe_btf_typed(const FeatureText& text, const char* program, const char* kind, const char* target) {
    auto object = load_probe_programs({program});
    if (!object) return unavailable(text, load_refusal(object.error(), kind));
    auto link = attach(find_program(*object, program));
    if (!link) return unavailable(text, "loaded, but " + link.error().what);
    return available(text, std::string("loaded and attached to ") + target);
}

Feature probe_kprobe() {
    // Without the kprobe PMU libbpf falls back to tracefs kprobe_events, so
    // try where tracefs is mounted, and explain from there.
    Outcome outcome = run_with_tracefs([] {
        auto object = load_probe_programs({"probe_kprobe"});
        if (!object) return Outcome{false, object.error().what};
        auto link = attach(find_program(*object, "probe_kprobe"));
        if (link) return Outcome{true, "loaded and attached to bpf_fentry_test1"};
        bool has_pmu = ::access("/sys/bus/event_source/devices/kprobe", F_OK) == 0;
        std::string tracefs = mounted_tracefs();
        bool has_events = !tracefs.empty() && ::access((tracefs + "/kprobe_events").c_str(), F_OK) == 0;
        std::string reason = "loaded, but " + link.error().what;
        if (!has_pmu && !has_events)
            reason = "loaded, but " + errno_error("attach", link.error().errno_value).what +
                     ": no kprobe PMU and no tracefs kprobe_events, the kernel is built "
                     "without CONFIG_KPROBES";
        return Outcome{false, reason};
    });
    if (!outcome.ok) return unavailable(kprobe_text, outcome.text);
    return available(kprobe_text, outcome.text);
}

}  // namespace

std::vector<Feature> probe_bpf_program_types() {
    return {
        probe_tracepoint(),
        probe_raw_tracepoint(),
        probe_test_run(),
        probe_btf_typed(fentry_text, "probe_fentry", "BPF trampoline programs (fentry/fexit)", "bpf_fentry_test1"),
        probe_btf_typed(tp_btf_text, "probe_tp_btf", "BTF tracepoint programs", "sys_enter"),
        probe_kprobe(),
    };
}

}  // namespace dtrack::probe
