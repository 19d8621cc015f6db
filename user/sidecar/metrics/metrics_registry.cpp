#include "metrics_registry.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <optional>
#include <string_view>

namespace dtrack::cli::sidecar {

namespace {

using Figures = TargetFigures;
using Samples = std::vector<MetricSample>;

// What a scrape's samples come from: the targets' figures and the sidecar's own.
struct ScrapeInputs {
    const std::vector<Figures>& targets;
    const SidecarFigures& sidecar;
};

using SampleMaker = std::function<Samples(const ScrapeInputs&)>;

// One family of the schema, and how a scrape's inputs become its samples.
struct FamilyRow {
    std::string_view name;
    MetricType type;
    std::string_view help;
    SampleMaker samples;
};

// A family with one series per target, from one figure of each (absent
// where the figure is).
SampleMaker per_target(std::function<std::optional<double>(const Figures&)> figure) {
    return [figure = std::move(figure)](const ScrapeInputs& in) {
        Samples out;
        for (const Figures& t : in.targets)
            if (const std::optional<double> v = figure(t)) out.push_back({{{"target", t.target}}, *v});
        return out;
    };
}

std::optional<double> maybe(const std::optional<uint64_t>& v) {
    return v ? std::optional<double>(double(*v)) : std::nullopt;
}

Samples target_info(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets) {
        std::vector<Label> labels{{"target", t.target}, {"pid", std::to_string(t.pid)},
                                  {"comm", t.comm},     {"method", t.method},
                                  {"source", t.source}, {"exact", t.exact ? "true" : "false"}};
        // The target's own labels (domain, uuid, ...) after the sidecar's, never in place of one.
        for (const TargetLabel& extra : t.labels.all())
            if (std::none_of(labels.begin(), labels.end(), [&](const Label& l) { return l.name == extra.name; }))
                labels.push_back({extra.name, extra.value});
        out.push_back({std::move(labels), 1});
    }
    return out;
}

Samples dirty_figure(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets) {
        if (t.figure.empty()) continue;  // no interval yet
        for (const char* name : {"vmm-dirty", "written"})
            out.push_back({{{"target", t.target}, {"figure", name}}, t.figure == name ? 1.0 : 0.0});
    }
    return out;
}

Samples dirty_figure_trusted(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets)
        if (!t.figure.empty()) out.push_back({{{"target", t.target}}, t.figure_trusted ? 1.0 : 0.0});
    return out;
}

Samples dirty_logging(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets) {
        if (t.figure.empty() || !t.logging) continue;
        for (const char* state : {"off", "ring", "bitmap"})
            out.push_back({{{"target", t.target}, {"state", state}, {"evidence", t.logging_evidence}},
                           *t.logging == state ? 1.0 : 0.0});
    }
    return out;
}

// One sample per vCPU of each target (a thread that ended is left out),
// labelled target and vcpu, and tid and thread where the vCPUs are threads;
// value() gives it, or nothing to leave it out.
using VcpuValue = std::optional<double> (*)(const Figures&, size_t vcpu, const VcpuFigures*);

SampleMaker per_vcpu(VcpuValue value) {
    return [value](const ScrapeInputs& in) {
        Samples out;
        for (const Figures& t : in.targets)
            for (size_t v = 0; v < t.vcpu_pages.size(); ++v) {
                const VcpuFigures* f = v < t.vcpus.size() ? &t.vcpus[v] : nullptr;
                if (f && !f->alive) continue;  // a thread that ended
                const std::optional<double> x = value(t, v, f);
                if (!x) continue;
                std::vector<Label> labels{{"target", t.target}, {"vcpu", std::to_string(v)}};
                if (f && f->tid) labels.insert(labels.end(), {{"tid", std::to_string(f->tid)}, {"thread", f->thread}});
                out.push_back({std::move(labels), *x});
            }
        return out;
    };
}

// The per-vCPU rates against --quota: only where the target has them.
bool has_quota_rates(const Figures& t, const VcpuFigures* f) { return f && t.quota_pages_per_s; }

Samples slot_dirty_pages(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets)
        for (const auto& [id, pages] : t.slot_pages)
            out.push_back({{{"target", t.target}, {"slot", std::to_string(id)}}, double(pages)});
    return out;
}

Samples vcpu_ring_full_exits(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets)
        for (size_t v = 0; v < t.vcpu_ring_full_exits.size(); ++v)
            out.push_back({{{"target", t.target}, {"vcpu", std::to_string(v)}}, double(t.vcpu_ring_full_exits[v])});
    return out;
}

Samples working_set_bytes(const ScrapeInputs& in) {
    Samples out;
    for (const Figures& t : in.targets) {
        out.push_back({{{"target", t.target}, {"window", "10s"}}, double(t.working_set_10s_pages * t.page_size)});
        out.push_back({{{"target", t.target}, {"window", "60s"}}, double(t.working_set_60s_pages * t.page_size)});
    }
    return out;
}

Samples targets_refused(const ScrapeInputs& in) {
    Samples out;
    for (const auto& [reason, count] : in.sidecar.targets_refused) out.push_back({{{"reason", reason}}, double(count)});
    return out;
}

// The schema, in the order a scrape lists the families.
const FamilyRow family_rows[] = {
    {"dtrack_target", MetricType::info,
     "One series per attached target: the process, how it is measured (method auto: the "
     "ring pushes while the VM logs into its rings, page hashing otherwise, exact=false as it "
     "changes; bpf: exact, from KVM's dirty ring; sample: an estimate from hashing a sample of "
     "pages), and how the sidecar found it (source pid_option: --pid; pid_file: a file in "
     "--pid-file-dir; kubevirt: --discover-kubevirt, with labels pod, namespace and vm). The "
     "sidecar's log says what each method hooks.",
     target_info},
    {"dtrack_dirty_pages", MetricType::counter,
     "Distinct pages dirtied in each harvest interval, summed over the intervals: its rate is the "
     "dirty rate dtrack rate prints, from the figure dtrack_dirty_figure names for each interval "
     "(an estimate, rounded, when hashing a sample). Continuous when the figure switches.",
     per_target([](const Figures& t) { return double(t.dirty_pages); })},
    {"dtrack_measured_seconds", MetricType::counter,
     "Seconds of the harvest intervals summed in dtrack_dirty_pages_total: the increase of the one over "
     "the increase of the other is the dirty rate over exactly the measured intervals.",
     per_target([](const Figures& t) { return t.measured_seconds; })},
    {"dtrack_harvests", MetricType::counter, "Harvest intervals measured.",
     per_target([](const Figures& t) { return double(t.harvests); })},
    {"dtrack_vmm_dirty_pages", MetricType::counter,
     "Pages the kernel marked dirty for the VMM since it last write-protected them (ring pushes), "
     "distinct per harvest interval, summed: exact while the VM logs into its dirty rings "
     "(dtrack_dirty_logging), flat while it does not. Only for a dirty-ring VMM watched by BPF.",
     per_target([](const Figures& t) { return maybe(t.vmm_dirty_pages); })},
    {"dtrack_written_pages", MetricType::counter,
     "Distinct pages written in each harvest interval, found by hashing pages of the process (a "
     "sample: the estimate, rounded), summed. Only where pages are hashed (methods auto and sample).",
     per_target([](const Figures& t) { return maybe(t.written_pages); })},
    {"dtrack_dirty_figure", MetricType::gauge,
     "Which figure the last interval added to dtrack_dirty_pages_total: 1 for it, 0 for "
     "the other (vmm-dirty: ring pushes while the VM logs; written: page hashing).",
     dirty_figure},
    {"dtrack_dirty_figure_trusted", MetricType::gauge,
     "0 where the last interval's figure reads low (method bpf on a VM that does not "
     "log dirty pages into its rings), else 1.",
     dirty_figure_trusted},
    {"dtrack_dirty_logging", MetricType::gauge,
     "The VM's dirty logging at the last interval: 1 for its state (off, ring, bitmap), "
     "0 for the others; evidence=kernel where read from struct kvm, inferred where "
     "guessed from ring pushes. Only for a process that runs a KVM VM.",
     dirty_logging},
    {"dtrack_vcpu_dirty_pages", MetricType::counter,
     "Pages each vCPU pushed into its KVM dirty ring (a page dirtied again after the VMM's "
     "ring reset counts again). Only where the method knows vCPUs (bpf), and with --quota "
     "for a process that runs no KVM VM: each thread's write faults (labels tid, thread), "
     "its first writes to pages not writable yet.",
     per_vcpu([](const Figures& t, size_t v, const VcpuFigures*) -> std::optional<double> {
         return double(t.vcpu_pages[v]);
     })},
    {"dtrack_vcpu_dirty_pages_per_second", MetricType::gauge,
     "Each vCPU's dirty rate over the last harvest interval, pages/s, as "
     "dtrack_vcpu_dirty_pages_total counts them. Only with --quota, where the target "
     "has per-vCPU rates.",
     per_vcpu([](const Figures& t, size_t, const VcpuFigures* f) -> std::optional<double> {
         if (!has_quota_rates(t, f)) return std::nullopt;
         return f->pages_per_s;
     })},
    {"dtrack_vcpu_over_quota", MetricType::gauge,
     "1 where the vCPU's last interval was above --quota (a per-vCPU dirty limit would slow "
     "it), else 0. Only with --quota, where the target has per-vCPU rates.",
     per_vcpu([](const Figures& t, size_t, const VcpuFigures* f) -> std::optional<double> {
         if (!has_quota_rates(t, f)) return std::nullopt;
         return f->over_quota ? 1.0 : 0.0;
     })},
    {"dtrack_vcpu_quota_pages_per_second", MetricType::gauge,
     "The per-vCPU dirty quota (--quota), pages/s. Only with --quota, where the target has per-vCPU "
     "rates.",
     per_target([](const Figures& t) { return t.quota_pages_per_s; })},
    {"dtrack_slot_dirty_pages", MetricType::counter,
     "Distinct pages dirtied per harvest interval in each KVM memslot, summed over the "
     "intervals. Only where the method knows memslots (bpf); slots that never had a dirty "
     "page are left out.",
     slot_dirty_pages},
    {"dtrack_lost_pages", MetricType::counter,
     "Dirty-ring pushes that set no bit: pages outside every tracked memslot. Only where the method "
     "sees them (bpf); absent for sample, an estimate (see dtrack_estimate_bound_pages).",
     per_target([](const Figures& t) { return maybe(t.lost_pages); })},
    {"dtrack_overapproximated_pages", MetricType::counter,
     "Pages marked dirty without evidence, to cover a loss. Only where the method can tell (bpf, which "
     "never over-approximates); absent for sample.",
     per_target([](const Figures& t) { return maybe(t.overapproximated_pages); })},
    {"dtrack_ring_full_exits", MetricType::counter,
     "KVM_EXIT_DIRTY_RING_FULL exits of the target's vCPUs. Only where the method watches the ring "
     "(bpf); absent for sample.",
     per_target([](const Figures& t) { return maybe(t.ring_full_exits); })},
    {"dtrack_ring_resets", MetricType::counter,
     "KVM_RESET_DIRTY_RINGS passes over the target's rings. Only where the method watches the ring "
     "(bpf); absent for sample.",
     per_target([](const Figures& t) { return maybe(t.ring_resets); })},
    {"dtrack_vcpu_ring_full_exits", MetricType::counter,
     "KVM_EXIT_DIRTY_RING_FULL exits of each vCPU. Only where the method watches the "
     "ring (bpf); a vCPU with no ring event yet is left out.",
     vcpu_ring_full_exits},
    {"dtrack_stuck_vcpus", MetricType::gauge,
     "vCPUs whose ring-full exit has waited 5 s or more for the VMM to reset their dirty ring, at the "
     "last interval: such a vCPU cannot run (the VMM does not harvest its ring; on an emulated guest "
     "of a nested host, a jammed ring). Only where the method watches the ring (bpf).",
     per_target([](const Figures& t) { return maybe(t.stuck_vcpus); })},
    {"dtrack_working_set_bytes", MetricType::gauge,
     "Distinct pages dirtied in the last 10 s or 60 s of harvest intervals, times the page "
     "size (method sample: estimated from the sampled pages).",
     working_set_bytes},
    {"dtrack_memory_bytes", MetricType::gauge,
     "Memory the method sees, what round 1 of a precopy migration copies (dtrack rate's forecast input): "
     "bpf, the memslots' extent seen so far; sample, the present pages.",
     per_target([](const Figures& t) { return double(t.memory_bytes); })},
    {"dtrack_forecast_converges", MetricType::gauge,
     "1 when a precopy migration at --forecast-bandwidth would converge within --forecast-downtime, from the "
     "last interval's rate, the 60 s working set and dtrack_memory_bytes (dtrack rate's forecast); 0 when it "
     "would not. Only with --forecast-bandwidth.",
     per_target([](const Figures& t) {
         return t.forecast ? std::optional<double>(t.forecast->converges ? 1 : 0) : std::nullopt;
     })},
    {"dtrack_forecast_seconds", MetricType::gauge,
     "That migration's forecast time until switchover ends. Only with --forecast-bandwidth, and only where it "
     "converges.",
     per_target([](const Figures& t) {
         return t.forecast && t.forecast->converges ? std::optional<double>(t.forecast->total_s) : std::nullopt;
     })},
    {"dtrack_forecast_bytes_per_guest_byte", MetricType::gauge,
     "Bytes that migration would send per byte of dtrack_memory_bytes: 1 for one pass, more for each page "
     "re-sent (page contents at the bandwidth: no headers, zero pages or compression). Only with "
     "--forecast-bandwidth, and only where it converges.",
     per_target([](const Figures& t) {
         return t.forecast && t.forecast->converges ? std::optional<double>(t.forecast->bytes_per_guest_byte)
                                                    : std::nullopt;
     })},
    {"dtrack_page_size_bytes", MetricType::gauge, "The target's page size.",
     per_target([](const Figures& t) { return double(t.page_size); })},
    {"dtrack_estimate_bound_pages", MetricType::gauge,
     "Half-width of the 95% interval of the last interval's estimate of dirtied pages. Only for an "
     "estimating method (sample).",
     per_target([](const Figures& t) { return t.estimate_bound_pages; })},
    // Exits are dtrack_target_exits_total's alone: a gauge of them would repeat it.
    {"dtrack_targets", MetricType::gauge, "Targets attached now.",
     [](const ScrapeInputs& in) {
         return Samples{{{{"state", "attached"}}, double(in.sidecar.targets_attached)}};
     }},
    {"dtrack_target_exits", MetricType::counter,
     "Targets whose process exited while attached (each is logged and dropped).",
     [](const ScrapeInputs& in) {
         return Samples{MetricSample{{}, double(in.sidecar.targets_exited)}};
     }},
    {"dtrack_targets_refused", MetricType::counter,
     "Pid files that gave no target, by reason, each counted once until it changes: "
     "untrusted (its owner may not point the sidecar at that process), no_pid (no PID, "
     "not a regular file, unreadable), duplicate (another target measures that process), "
     "max_targets (--max-targets reached), unmeasurable (the process is gone or may not "
     "be measured).",
     targets_refused},
    {"process_cpu_seconds", MetricType::counter, "CPU time the sidecar used, user and system, in seconds.",
     [](const ScrapeInputs& in) {
         return Samples{MetricSample{{}, in.sidecar.cpu_seconds}};
     }},
    {"process_start_time_seconds", MetricType::gauge, "When the sidecar started, in seconds since the Unix epoch.",
     [](const ScrapeInputs& in) {
         return Samples{MetricSample{{}, in.sidecar.start_time_seconds}};
     }},
    {"dtrack_build", MetricType::info, "The dtrack version the sidecar is.",
     [](const ScrapeInputs& in) {
         return Samples{MetricSample{{{"version", in.sidecar.version}}, 1}};
     }},
};

}  // namespace

std::vector<MetricFamily> metric_families(const std::vector<Figures>& targets, const SidecarFigures& sidecar) {
    const ScrapeInputs in{targets, sidecar};
    std::vector<MetricFamily> out;
    out.reserve(std::size(family_rows));
    for (const FamilyRow& row : family_rows)
        out.push_back({.name = std::string(row.name),
                       .type = row.type,
                       .help = std::string(row.help),
                       .samples = row.samples(in)});
    return out;
}

}  // namespace dtrack::cli::sidecar
