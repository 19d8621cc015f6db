#include "metrics_registry.hpp"

#include <functional>
#include <optional>

namespace dtrack::cli::sidecar {

namespace {

using Figures = TargetFigures;

// A family with one series per target, from one figure of each (absent
// where the figure is).
MetricFamily per_target(std::string name, MetricType type, std::string help,
                        const std::vector<Figures>& targets,
                        const std::function<std::optional<double>(const Figures&)>& figure) {
    MetricFamily f{.name = std::move(name), .type = type, .help = std::move(help)};
    for (const Figures& t : targets)
        if (const std::optional<double> v = figure(t)) f.samples.push_back({{{"target", t.target}}, *v});
    return f;
}

std::optional<double> maybe(const std::optional<uint64_t>& v) {
    return v ? std::optional<double>(double(*v)) : std::nullopt;
}

}  // namespace

std::vector<MetricFamily> metric_families(const std::vector<Figures>& targets, const SidecarFigures& sidecar) {
    std::vector<MetricFamily> out;
    const auto add = [&](MetricFamily f) { out.push_back(std::move(f)); };

    MetricFamily info{.name = "dtrack_target",
                      .type = MetricType::info,
                      .help = "One series per attached target: the process, and how it is measured (method auto: the "
                              "ring pushes while the VM logs into its rings, page hashing otherwise, exact=false as it "
                              "changes; bpf: exact, from KVM's dirty ring; sample: an estimate from hashing a sample of "
                              "pages)."};
    for (const Figures& t : targets)
        info.samples.push_back({{{"target", t.target},
                                 {"pid", std::to_string(t.pid)},
                                 {"comm", t.comm},
                                 {"method", t.method},
                                 {"source", t.source},
                                 {"exact", t.exact ? "true" : "false"}},
                                1});
    add(std::move(info));

    add(per_target("dtrack_dirty_pages", MetricType::counter,
                   "Distinct pages dirtied in each harvest interval, summed over the intervals: its rate is the "
                   "dirty rate dtrack rate prints, from the figure dtrack_dirty_figure names for each interval "
                   "(an estimate, rounded, when hashing a sample). Continuous when the figure switches.",
                   targets, [](const Figures& t) { return double(t.dirty_pages); }));
    add(per_target("dtrack_measured_seconds", MetricType::counter,
                   "Seconds of the harvest intervals summed in dtrack_dirty_pages_total: the increase of the one over "
                   "the increase of the other is the dirty rate over exactly the measured intervals.",
                   targets, [](const Figures& t) { return t.measured_seconds; }));
    add(per_target("dtrack_harvests", MetricType::counter, "Harvest intervals measured.", targets,
                   [](const Figures& t) { return double(t.harvests); }));
    add(per_target("dtrack_vmm_dirty_pages", MetricType::counter,
                   "Pages the kernel marked dirty for the VMM since it last write-protected them (ring pushes), "
                   "distinct per harvest interval, summed: exact while the VM logs into its dirty rings "
                   "(dtrack_dirty_logging), flat while it does not. Only for a dirty-ring VMM watched by BPF.",
                   targets, [](const Figures& t) { return maybe(t.vmm_dirty_pages); }));
    add(per_target("dtrack_written_pages", MetricType::counter,
                   "Distinct pages written in each harvest interval, found by hashing pages of the process (a "
                   "sample: the estimate, rounded), summed. Only where pages are hashed (methods auto and sample).",
                   targets, [](const Figures& t) { return maybe(t.written_pages); }));

    MetricFamily figure{.name = "dtrack_dirty_figure",
                        .type = MetricType::gauge,
                        .help = "Which figure the last interval added to dtrack_dirty_pages_total: 1 for it, 0 for "
                                "the other (vmm-dirty: ring pushes while the VM logs; written: page hashing)."};
    MetricFamily trusted{.name = "dtrack_dirty_figure_trusted",
                         .type = MetricType::gauge,
                         .help = "0 where the last interval's figure reads low (method bpf on a VM that does not "
                                 "log dirty pages into its rings), else 1."};
    MetricFamily logging{.name = "dtrack_dirty_logging",
                         .type = MetricType::gauge,
                         .help = "The VM's dirty logging at the last interval: 1 for its state (off, ring, bitmap), "
                                 "0 for the others; evidence=kernel where read from struct kvm, inferred where "
                                 "guessed from ring pushes. Only for a process that runs a KVM VM."};
    for (const Figures& t : targets) {
        if (t.figure.empty()) continue;  // no interval yet
        for (const char* name : {"vmm-dirty", "written"})
            figure.samples.push_back({{{"target", t.target}, {"figure", name}}, t.figure == name ? 1.0 : 0.0});
        trusted.samples.push_back({{{"target", t.target}}, t.figure_trusted ? 1.0 : 0.0});
        if (!t.logging) continue;
        for (const char* state : {"off", "ring", "bitmap"})
            logging.samples.push_back({{{"target", t.target}, {"state", state}, {"evidence", t.logging_evidence}},
                                       *t.logging == state ? 1.0 : 0.0});
    }
    add(std::move(figure));
    add(std::move(trusted));
    add(std::move(logging));

    MetricFamily vcpu{.name = "dtrack_vcpu_dirty_pages",
                      .type = MetricType::counter,
                      .help = "Pages each vCPU pushed into its KVM dirty ring (a page dirtied again after the VMM's "
                              "ring reset counts again). Only where the method knows vCPUs (bpf), and with --quota "
                              "for a process that runs no KVM VM: each thread's write faults (labels tid, thread), "
                              "its first writes to pages not writable yet."};
    MetricFamily vcpu_rate{.name = "dtrack_vcpu_dirty_pages_per_second",
                           .type = MetricType::gauge,
                           .help = "Each vCPU's dirty rate over the last harvest interval, pages/s, as "
                                   "dtrack_vcpu_dirty_pages_total counts them. Only with --quota, where the target "
                                   "has per-vCPU rates."};
    MetricFamily over{.name = "dtrack_vcpu_over_quota",
                      .type = MetricType::gauge,
                      .help = "1 where the vCPU's last interval was above --quota (a per-vCPU dirty limit would slow "
                              "it), else 0. Only with --quota, where the target has per-vCPU rates."};
    for (const Figures& t : targets)
        for (size_t v = 0; v < t.vcpu_pages.size(); ++v) {
            const VcpuFigures* f = v < t.vcpus.size() ? &t.vcpus[v] : nullptr;
            if (f && !f->alive) continue;  // a thread that ended
            std::vector<Label> labels{{"target", t.target}, {"vcpu", std::to_string(v)}};
            if (f && f->tid) labels.insert(labels.end(), {{"tid", std::to_string(f->tid)}, {"thread", f->thread}});
            vcpu.samples.push_back({labels, double(t.vcpu_pages[v])});
            if (!f || !t.quota_pages_per_s) continue;
            vcpu_rate.samples.push_back({labels, f->pages_per_s});
            over.samples.push_back({labels, f->over_quota ? 1.0 : 0.0});
        }
    add(std::move(vcpu));
    add(std::move(vcpu_rate));
    add(std::move(over));
    add(per_target("dtrack_vcpu_quota_pages_per_second", MetricType::gauge,
                   "The per-vCPU dirty quota (--quota), pages/s. Only with --quota, where the target has per-vCPU "
                   "rates.",
                   targets, [](const Figures& t) { return t.quota_pages_per_s; }));

    MetricFamily slot{.name = "dtrack_slot_dirty_pages",
                      .type = MetricType::counter,
                      .help = "Distinct pages dirtied per harvest interval in each KVM memslot, summed over the "
                              "intervals. Only where the method knows memslots (bpf); slots that never had a dirty "
                              "page are left out."};
    for (const Figures& t : targets)
        for (const auto& [id, pages] : t.slot_pages)
            slot.samples.push_back({{{"target", t.target}, {"slot", std::to_string(id)}}, double(pages)});
    add(std::move(slot));

    add(per_target("dtrack_lost_pages", MetricType::counter,
                   "Dirty-ring pushes that set no bit: pages outside every tracked memslot. Only where the method "
                   "sees them (bpf); absent for sample, an estimate (see dtrack_estimate_bound_pages).",
                   targets, [](const Figures& t) { return maybe(t.lost_pages); }));
    add(per_target("dtrack_overapproximated_pages", MetricType::counter,
                   "Pages marked dirty without evidence, to cover a loss. Only where the method can tell (bpf, which "
                   "never over-approximates); absent for sample.",
                   targets, [](const Figures& t) { return maybe(t.overapproximated_pages); }));
    add(per_target("dtrack_ring_full_exits", MetricType::counter,
                   "KVM_EXIT_DIRTY_RING_FULL exits of the target's vCPUs. Only where the method watches the ring "
                   "(bpf); absent for sample.",
                   targets, [](const Figures& t) { return maybe(t.ring_full_exits); }));
    add(per_target("dtrack_ring_resets", MetricType::counter,
                   "KVM_RESET_DIRTY_RINGS passes over the target's rings. Only where the method watches the ring "
                   "(bpf); absent for sample.",
                   targets, [](const Figures& t) { return maybe(t.ring_resets); }));

    MetricFamily vcpu_full{.name = "dtrack_vcpu_ring_full_exits",
                           .type = MetricType::counter,
                           .help = "KVM_EXIT_DIRTY_RING_FULL exits of each vCPU. Only where the method watches the "
                                   "ring (bpf); a vCPU with no ring event yet is left out."};
    for (const Figures& t : targets)
        for (size_t v = 0; v < t.vcpu_ring_full_exits.size(); ++v)
            vcpu_full.samples.push_back({{{"target", t.target}, {"vcpu", std::to_string(v)}},
                                         double(t.vcpu_ring_full_exits[v])});
    add(std::move(vcpu_full));
    add(per_target("dtrack_stuck_vcpus", MetricType::gauge,
                   "vCPUs whose ring-full exit has waited 5 s or more for the VMM to reset their dirty ring, at the "
                   "last interval: such a vCPU cannot run (the VMM does not harvest its ring; on an emulated guest "
                   "of a nested host, a jammed ring). Only where the method watches the ring (bpf).",
                   targets, [](const Figures& t) { return maybe(t.stuck_vcpus); }));

    MetricFamily wss{.name = "dtrack_working_set_bytes",
                     .type = MetricType::gauge,
                     .help = "Distinct pages dirtied in the last 10 s or 60 s of harvest intervals, times the page "
                             "size (method sample: estimated from the sampled pages)."};
    for (const Figures& t : targets) {
        wss.samples.push_back({{{"target", t.target}, {"window", "10s"}}, double(t.working_set_10s_pages * t.page_size)});
        wss.samples.push_back({{{"target", t.target}, {"window", "60s"}}, double(t.working_set_60s_pages * t.page_size)});
    }
    add(std::move(wss));

    add(per_target("dtrack_memory_bytes", MetricType::gauge,
                   "Memory the method sees, what round 1 of a precopy migration copies (dtrack rate's forecast input): "
                   "bpf, the memslots' extent seen so far; sample, the present pages.",
                   targets, [](const Figures& t) { return double(t.memory_bytes); }));
    add(per_target("dtrack_page_size_bytes", MetricType::gauge, "The target's page size.", targets,
                   [](const Figures& t) { return double(t.page_size); }));
    add(per_target("dtrack_estimate_bound_pages", MetricType::gauge,
                   "Half-width of the 95% interval of the last interval's estimate of dirtied pages. Only for an "
                   "estimating method (sample).",
                   targets, [](const Figures& t) { return t.estimate_bound_pages; }));

    add({.name = "dtrack_targets",
         .type = MetricType::gauge,
         .help = "Targets attached now, and targets that exited since the sidecar started.",
         .samples = {{{{"state", "attached"}}, double(sidecar.targets_attached)},
                     {{{"state", "exited"}}, double(sidecar.targets_exited)}}});
    add({.name = "dtrack_target_exits",
         .type = MetricType::counter,
         .help = "Targets whose process exited while attached (each is logged and dropped).",
         .samples = {{{}, double(sidecar.targets_exited)}}});
    MetricFamily refused{.name = "dtrack_targets_refused",
                         .type = MetricType::counter,
                         .help = "Pid files that gave no target, by reason, each counted once until it changes: "
                                 "untrusted (its owner may not point the sidecar at that process), no_pid (no PID, "
                                 "not a regular file, unreadable), duplicate (another target measures that process), "
                                 "max_targets (--max-targets reached), unmeasurable (the process is gone or may not "
                                 "be measured)."};
    for (const auto& [reason, count] : sidecar.targets_refused)
        refused.samples.push_back({{{"reason", reason}}, double(count)});
    add(std::move(refused));
    add({.name = "process_cpu_seconds",
         .type = MetricType::counter,
         .help = "CPU time the sidecar used, user and system, in seconds.",
         .samples = {{{}, sidecar.cpu_seconds}}});
    add({.name = "process_start_time_seconds",
         .type = MetricType::gauge,
         .help = "When the sidecar started, in seconds since the Unix epoch.",
         .samples = {{{}, sidecar.start_time_seconds}}});
    add({.name = "dtrack_build",
         .type = MetricType::info,
         .help = "The dtrack version the sidecar is.",
         .samples = {{{{"version", sidecar.version}}, 1}}});
    return out;
}

}  // namespace dtrack::cli::sidecar
