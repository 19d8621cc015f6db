// dtrack rate --pid N: how fast a running VM or process dirties memory,
// interval by interval (vmstat style: INTERVAL [COUNT]), exact where the
// kernel allows and labelled an estimate (with its bound) where not, and what
// that means for a precopy migration at a given bandwidth and downtime. With
// --quota, each vCPU's rate against a per-vCPU quota (vcpu_rates.hpp).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "common/installed_docs.hpp"
#include "commands.hpp"
#include "dtrack/migration_forecast.hpp"
#include "dtrack/rate_meter.hpp"
#include "dtrack/target_meter.hpp"
#include "dtrack/units.hpp"
#include "shared/interval_clock.hpp"
#include "shared/interval_count.hpp"
#include "shared/method_flags.hpp"
#include "shared/rate_method.hpp"
#include "shared/vcpu_rates.hpp"
#include "stuck_vcpus_line.hpp"

namespace dtrack::cli {

namespace {

struct RateOptions {
    int pid = 0;
    MethodFlags method;
    IntervalCountFlags timing;
    bool json = false;
    std::string bandwidth = "1G";
    std::string downtime = "300ms";
    std::string memory;  // guest memory for the forecast; default: what the method sees
    std::string quota;   // per-vCPU quota, pages/s or bytes/s; empty: no per-vCPU table
};

constexpr double bytes_per_mib = 1 << 20;

// A row of the per-vCPU table: a ring's vCPUs all, a thread that dirtied pages.
bool has_row(const VcpuRate& r) { return !r.tid || r.pages_per_s > 0; }

// The per-vCPU table under an interval's line: the vCPUs that dirtied pages
// (a ring's vCPUs all), each against the quota. None at all (no thread wrote
// a page) is no table: said once, by the first such interval.
void print_vcpu_table(const std::vector<VcpuRate>& rates, bool& said_none) {
    if (std::none_of(rates.begin(), rates.end(), has_row)) {
        if (!said_none)
            std::printf(
                "%8s(no vCPU thread dirtied a page, so none is over the quota: an interval where none does "
                "prints no vCPU table)\n",
                "");
        said_none = true;
        return;
    }
    std::printf("%8s%-32s %9s %8s  %s\n", "", "vCPU", "pages/s", "MiB/s", "quota");
    size_t silent = 0;
    for (const VcpuRate& r : rates) {
        if (!has_row(r)) {
            silent += r.alive;
            continue;
        }
        std::printf("%8s%-32s %9s %8.1f  %s\n", "", r.label().c_str(), format_count(r.pages_per_s).c_str(),
                    r.pages_per_s * 4096 / bytes_per_mib, r.over_quota ? "OVER: a limit would slow it" : "under");
    }
    if (silent) std::printf("%8s(%zu more threads dirtied nothing)\n", "", silent);
}

const char* const default_interval = "1s";

int usage_error(const Error& e) {
    std::fprintf(stderr, "dtrack rate: %s\n", e.message().c_str());
    return exit_usage;
}

// The options, checked.
struct RatePlan {
    ChosenMethod method;
    IntervalCount timing;
    uint64_t bandwidth = 0;
    std::chrono::milliseconds downtime{};
    std::optional<uint64_t> memory;
    std::optional<double> quota;
};

Result<RatePlan> plan_rate(const RateOptions& o) {
    RatePlan p;
    auto method = parse_method_flags(o.method);
    if (!method) return method.error();
    p.method = *method;
    auto timing = parse_interval_count(o.timing, default_interval);
    if (!timing) return timing.error();
    p.timing = *timing;
    auto bandwidth = parse_bytes_per_second(o.bandwidth, "--bandwidth");
    if (!bandwidth) return bandwidth.error();
    p.bandwidth = *bandwidth;
    auto downtime = parse_duration(o.downtime, "--downtime");
    if (!downtime) return downtime.error();
    p.downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime);
    if (!o.memory.empty()) {
        auto m = parse_size(o.memory, "--memory");
        if (!m) return m.error();
        p.memory = *m;
    }
    if (!o.quota.empty()) {
        auto q = parse_pages_per_second(o.quota, 4096, "--quota");
        if (!q) return q.error();
        p.quota = *q;
        p.method.per_vcpu = true;
    }
    return p;
}

// "off (kernel: 0 memslots log)", "ring (kernel: 3 memslots log)", "inferred".
std::string logging_label(const LoggingView& v) {
    switch (v.evidence) {
        case LoggingEvidence::none: return "no VM";
        case LoggingEvidence::inferred: return "unknown (inferred from the kernel's record)";
        case LoggingEvidence::kernel: break;
    }
    std::string s = std::string(dirty_logging_name(v.logging)) +
                    " (from the kernel: " + std::to_string(v.memslots_logging) + " memslots log";
    if (v.memslots_not_logging) s += ", " + std::to_string(v.memslots_not_logging) + " do not";
    return s + ")";
}

void print_header(const TargetProcess& t, const TargetMeter& m, const RatePlan& p) {
    std::printf("dtrack rate: pid %d (%s), method %s: %s\n", t.pid, t.comm.c_str(), m.method().c_str(),
                m.sources().c_str());
    std::printf("  %s\n", m.why().c_str());
    if (t.has_kvm_vm) std::printf("  dirty logging now: %s\n", logging_label(m.read_logging()).c_str());
    if (!m.state_note().empty()) std::printf("  %s\n", m.state_note().c_str());
    if (t.namespace_pids.size() > 1)
        std::printf("  pid %d is pid %d inside its own PID namespace (a container)\n", t.pid, t.namespace_pids.back());
    std::printf(
        "  figures: vmm-dirty = pages the kernel marked dirty for the VMM since it last re-protected them "
        "(ring pushes or new dirty-bitmap bits; exact while the VM logs); written = distinct pages written in the "
        "interval (page "
        "hashing)\n");
    if (const TargetMethod* h = m.hashing(); h && h->sample && !h->exact)
        std::printf(
            "  est +-N/s: an estimate's 95%% bound, in pages/s as the figure; the sample is sized for --bound, a "
            "share of the pages present (pages present / read), not of the figure\n");
    const TargetMethod& vcpu = m.vcpu_method();
    if (p.quota) {
        std::printf("  quota: %s pages/s (%s/s) per vCPU", format_count(*p.quota).c_str(),
                    format_bytes(*p.quota * 4096).c_str());
        if (vcpu.no_vcpu_view) std::printf("; %s\n", vcpu.no_vcpu_view->message().c_str());
        else
            std::printf(
                "; under each interval, each vCPU's rate from %s, and OVER where a per-vCPU dirty limit "
                "at the quota would slow it\n",
                vcpu_figure(vcpu).c_str());
        if (vcpu.vcpu_view == VcpuView::thread_faults)
            std::printf(
                "  a write fault is a thread's first write to a page not writable yet: a page newly "
                "dirtied where the process write-protects its memory again (dtvm's process backend), "
                "where alone it is counted if it has such memory, else a first touch\n");
    }
    std::printf("%7s %9s %8s %9s %-13s %-20s %s\n", "time", "pages/s", "MiB/s", "WSS MiB", "figure", "of",
                vcpu.knows_vcpus ? "per vCPU, pages/s (ring entries)"
                : vcpu.sample    ? "pages present / read (only present pages are read)"
                                 : "");
}

// An estimate's 95% bound in pages/s, the figure's own unit. --bound is a
// share of the pages present, not of the figure: as a share of the figure
// (the "est +-7%" this once printed for --bound 2%) it grows as the figure
// shrinks, while the pages it stands for stay the same.
double bound_pages_per_s(const RateSample& s) { return s.seconds > 0 ? s.bound_pages / s.seconds : 0; }

// "exact", "est +-240/s", "reads low".
std::string exactness(const RateSample& s, const FigureChoice& c, bool setup_exact) {
    std::string figure = "exact";
    if (!c.trusted) {
        figure = "reads low";
    } else if (s.estimate) {
        figure = "est +-" + format_count(bound_pages_per_s(s)) + "/s";
    } else if (!setup_exact) {
        figure = "estimate";
    }
    if (s.lost) figure += " lost:" + std::to_string(s.lost);
    return figure;
}

// One figure in JSON: distinct pages, rate, and its bound where estimated.
nlohmann::json figure_json(const RateSample& s) {
    nlohmann::json j{{"distinct_pages", s.distinct_pages},
                     {"pages_per_s", s.seconds > 0 ? s.distinct_pages / s.seconds : 0},
                     {"estimate", s.estimate}};
    if (s.estimate) j["bound_pages"] = s.bound_pages, j["bound_pages_per_s"] = bound_pages_per_s(s);
    return j;
}

// What a run adds up over its intervals.
struct RateTotals {
    uint64_t samples = 0, wss = 0;
    double peak = 0, sum_rate = 0;
    std::vector<uint64_t> intervals_over;  // per vCPU: intervals above the quota
    std::vector<std::string> vcpu_labels;
};

// The interval's per-vCPU rates: where they come from the rings, only while
// the rings cover the guest (else they read 0 and say nothing).
std::vector<VcpuRate> interval_vcpu_rates(const TargetInterval& in, TargetMeter& m, const RatePlan& p,
                                          std::string& none_why) {
    if (!p.quota) return {};
    TargetMethod& setup = m.vcpu_method();
    if (setup.vcpu_view == VcpuView::ring) {
        if (in.choice.figure != DirtyFigure::vmm_dirty || !in.choice.trusted) {
            none_why = "no per-vCPU figure this interval: the rings do not cover the guest now";
            return {};
        }
        return vcpu_rates(*in.vmm_dirty, setup, p.quota);
    }
    const RateSample* s = setup.vcpu_threads && in.written ? &*in.written : in.vmm_dirty ? &*in.vmm_dirty : nullptr;
    return s ? vcpu_rates(*s, setup, p.quota) : std::vector<VcpuRate>{};
}

void print_interval_json(double t, const TargetProcess& target, const TargetInterval& in, TargetMeter& m,
                         const RatePlan& p, const std::vector<VcpuRate>& rates, const Forecast& f, uint64_t wss) {
    const RateSample& s = in.figure();
    const TargetMethod& figure_setup = in.choice.figure == DirtyFigure::vmm_dirty ? *m.kernel() : *m.hashing();
    const double rate = s.seconds > 0 ? s.distinct_pages / s.seconds : 0;
    nlohmann::json line{
        {"time_s", t},
        {"pid", target.pid},
        {"method", m.method()},
        {"figure", dirty_figure_name(in.choice.figure)},
        {"figure_why", in.choice.why},
        {"exact", in.choice.trusted && !s.estimate && figure_setup.exact},
        {"trusted", in.choice.trusted},
        {"logging", target.has_kvm_vm ? dirty_logging_name(in.logging.logging) : "no-vm"},
        {"logging_evidence", logging_evidence_name(in.logging.evidence)},
        {"memslots_logging", in.logging.memslots_logging},
        {"interval_s", s.seconds},
        {"distinct_pages", s.distinct_pages},
        {"pages_per_s", rate},
        {"bytes_per_s", s.bytes_per_s},
        {"working_set_pages", wss},
        {"lost", s.lost},
        {"vcpu_pages_per_s", in.choice.figure == DirtyFigure::vmm_dirty ? s.vcpu_pages_per_s : std::vector<double>{}},
        {"forecast",
         {{"converges", f.converges},
          {"rounds", f.rounds},
          {"total_s", f.total_s},
          {"downtime_s", f.downtime_s},
          {"bytes_sent", f.bytes_sent},
          {"bytes_per_guest_byte", f.bytes_per_guest_byte},
          {"summary", f.summary}}}};
    if (s.estimate) line["bound_pages"] = s.bound_pages, line["bound_pages_per_s"] = bound_pages_per_s(s);
    if (const TargetMethod* k = m.kernel(); k && k->bpf) line["stuck_vcpus"] = stuck_vcpus_json(k->bpf->stuck_vcpus());
    line["vmm_dirty"] = in.vmm_dirty ? figure_json(*in.vmm_dirty) : nlohmann::json();
    line["written"] = in.written ? figure_json(*in.written) : nlohmann::json();
    const TargetMethod& vcpu = m.vcpu_method();
    if (p.quota) {
        line["quota_pages_per_s"] = *p.quota;
        if (vcpu.vcpu_view != VcpuView::none) {
            line["vcpu_figure"] = vcpu_figure(vcpu);
            nlohmann::json vcpus = nlohmann::json::array(), over = nlohmann::json::array();
            for (const VcpuRate& r : rates) {
                if (!r.alive && r.pages_per_s == 0) continue;  // a thread that ended before the interval
                nlohmann::json v{{"vcpu", r.vcpu},
                                 {"pages_per_s", r.pages_per_s},
                                 {"bytes_per_s", r.pages_per_s * 4096},
                                 {"over_quota", r.over_quota}};
                if (r.tid) v["tid"] = r.tid, v["thread"] = r.thread;
                vcpus.push_back(std::move(v));
                if (r.over_quota) over.push_back(r.vcpu);
            }
            line["vcpus"] = std::move(vcpus);
            line["vcpus_over_quota"] = std::move(over);
        }
    }
    if (const TargetMethod* h = m.hashing(); h && h->sample) {
        const SampleReadStats r = h->sample->last_read_stats();
        line["present_pages"] = r.present;
        line["pages_read"] = r.pages_read;
        line["swapped_pages"] = r.swapped;
    }
    std::printf("%s\n", line.dump().c_str());
}

void print_interval_line(double t, const TargetInterval& in, TargetMeter& m, const RatePlan& p,
                         const std::vector<VcpuRate>& rates, const std::string& no_vcpus, uint64_t wss,
                         bool& said_no_vcpu_table) {
    const RateSample& s = in.figure();
    const bool kernel_figure = in.choice.figure == DirtyFigure::vmm_dirty;
    const TargetMethod& figure_setup = kernel_figure ? *m.kernel() : *m.hashing();
    const double rate = s.seconds > 0 ? s.distinct_pages / s.seconds : 0;
    std::string detail;
    if (kernel_figure) {
        for (size_t v = 0; v < s.vcpu_pages_per_s.size(); ++v) {
            if (s.vcpu_pages_per_s[v] == 0) continue;
            detail += (detail.empty() ? "" : " ") + std::to_string(v) + ":" + format_count(s.vcpu_pages_per_s[v]);
        }
        // The other figure beside it: what hashing saw written in the same interval.
        if (in.written && in.written->seconds > 0)
            detail += std::string(detail.empty() ? "" : "  ") + "written " +
                      format_count(in.written->distinct_pages / in.written->seconds) + "/s";
    } else if (figure_setup.sample) {
        const SampleReadStats r = figure_setup.sample->last_read_stats();
        detail = format_count(double(r.present)) + " / " + format_count(double(r.pages_read));
        if (r.swapped) detail += " (" + format_count(double(r.swapped)) + " swapped, not read)";
    }
    const std::string of =
        std::string(dirty_figure_name(in.choice.figure)) + ", log " +
        (in.logging.evidence == LoggingEvidence::none ? "-" : dirty_logging_name(in.logging.logging)) +
        (in.logging.evidence == LoggingEvidence::inferred ? "?" : "");
    std::printf("%6.1fs %9s %8.1f %9.1f %-13s %-20s %s\n", t, format_count(rate).c_str(), s.bytes_per_s / bytes_per_mib,
                double(wss) * 4096 / bytes_per_mib, exactness(s, in.choice, figure_setup.exact).c_str(), of.c_str(),
                detail.c_str());
    // A vCPU stuck on a full ring that its VMM does not reset: said under every interval it lasts.
    if (const TargetMethod* k = m.kernel(); k && k->bpf)
        for (const std::string& stuck : stuck_vcpu_lines(k->bpf->stuck_vcpus()))
            std::printf("%8s%s\n", "", stuck.c_str());
    if (!p.quota || m.vcpu_method().vcpu_view == VcpuView::none) return;
    if (!no_vcpus.empty()) std::printf("%8s(%s)\n", "", no_vcpus.c_str());
    else print_vcpu_table(rates, said_no_vcpu_table);
}

void print_summary(const RateTotals& totals, const RatePlan& p, const TargetMeter& m, const Forecast& f) {
    std::printf("over %llu intervals: %s pages/s on average, %s at peak, working set %.1f MiB\n",
                (unsigned long long)totals.samples, format_count(totals.sum_rate / double(totals.samples)).c_str(),
                format_count(totals.peak).c_str(), double(totals.wss) * 4096 / (1 << 20));
    std::printf("precopy at %s/s with a %lld ms downtime limit: %s\n", format_bytes(double(p.bandwidth)).c_str(),
                (long long)p.downtime.count(), f.summary.c_str());
    if (!p.quota || m.vcpu_method().vcpu_view == VcpuView::none) return;
    std::string over;
    for (size_t v = 0; v < totals.intervals_over.size(); ++v)
        if (totals.intervals_over[v])
            over += std::string(over.empty() ? "" : ", ") + totals.vcpu_labels[v] + " in " +
                    std::to_string(totals.intervals_over[v]) + " of " + std::to_string(totals.samples) + " intervals";
    std::printf("over the quota of %s pages/s: %s\n", format_count(*p.quota).c_str(),
                over.empty() ? "no vCPU" : over.c_str());
}

// --method bpf on a VM that does not log: its figure reads 0 until it does.
void warn_if_not_logging(int pid, const TargetMeter& m, const RatePlan& p) {
    if (p.method.method != MeasureMethod::kernel_events) return;
    const LoggingView now = m.read_logging();
    if (now.evidence == LoggingEvidence::kernel && now.logging == DirtyLogging::off)
        std::fprintf(stderr,
                     "dtrack rate: pid %d's VM is not logging dirty pages now (%s), so the kernel records none "
                     "of its writes and the bpf figure reads low (0) until it does; fix: use --method auto "
                     "(page hashing while it does not log) or --method sample, or measure during a migration\n",
                     pid, logging_label(now).c_str());
}

// One run of dtrack rate: what it measures, how, and what its intervals add up to.
struct RateRun {
    const RateOptions& o;
    const RatePlan& p;
    TargetMeter& m;
    const TargetProcess& target;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    RateTotals totals;
    std::string last_why;
    bool said_no_vcpu_table = false;
};

Forecast forecast_now(const RateRun& run, double rate_bytes) {
    const uint64_t mem = run.p.memory.value_or(run.m.working_set_method().round_one_bytes(run.totals.wss));
    return forecast_precopy({.memory_bytes = mem,
                             .working_set_bytes = run.totals.wss * 4096,
                             .dirty_bytes_per_s = rate_bytes,
                             .bandwidth = double(run.p.bandwidth),
                             .downtime = run.p.downtime});
}

// Adds an interval's figures to the run's totals.
void add_to_totals(RateRun& run, const TargetInterval& in, const std::vector<VcpuRate>& rates) {
    RateTotals& totals = run.totals;
    ++totals.samples;
    totals.intervals_over.resize(std::max(totals.intervals_over.size(), rates.size()));
    totals.vcpu_labels.resize(totals.intervals_over.size());
    for (const VcpuRate& r : rates) {
        totals.intervals_over[r.vcpu] += r.over_quota;
        totals.vcpu_labels[r.vcpu] = r.label();
    }
    const RateSample& ws_sample = run.m.hashing() ? *in.written : *in.vmm_dirty;
    totals.wss = run.m.working_set_method().working_set_pages(ws_sample);
    const RateSample& s = in.figure();
    const double rate = s.seconds > 0 ? s.distinct_pages / s.seconds : 0;
    totals.peak = std::max(totals.peak, rate);
    totals.sum_rate += rate;
}

// One interval: measure it, add it up, print it.
Status measure_interval(RateRun& run) {
    TargetMeter& m = run.m;
    m.vcpu_method().refresh_vcpu_threads(run.o.pid);
    auto in = m.sample();
    if (!in) return in.error();
    std::string no_vcpus;
    const std::vector<VcpuRate> rates = interval_vcpu_rates(*in, m, run.p, no_vcpus);
    add_to_totals(run, *in, rates);
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - run.start).count();
    if (run.o.json) {
        print_interval_json(t, run.target, *in, m, run.p, rates, forecast_now(run, in->figure().bytes_per_s),
                            run.totals.wss);
    } else {
        // A switch of figure, or of its reason, is said once, when it happens.
        if (in->choice.why != run.last_why)
            std::printf("%6.1fs %s: %s\n", t, dirty_figure_name(in->choice.figure), in->choice.why.c_str());
        print_interval_line(t, *in, m, run.p, rates, no_vcpus, run.totals.wss, run.said_no_vcpu_table);
    }
    run.last_why = in->choice.why;
    std::fflush(stdout);
    return Ok{};
}

int run_rate(const RateOptions& o) {
    auto plan = plan_rate(o);
    if (!plan) return usage_error(plan.error());
    const RatePlan& p = *plan;
    auto measured = TargetMeter::open(o.pid, p.method);
    if (!measured) return usage_error(measured.error());
    TargetMeter& m = **measured;
    const TargetProcess& target = m.target();
    if (Status s = m.start(); !s) return usage_error(s.error());
    catch_interrupts();

    warn_if_not_logging(o.pid, m, p);
    if (!o.json) print_header(target, m, p);
    else if (p.quota && m.vcpu_method().no_vcpu_view)
        std::fprintf(stderr, "dtrack rate: %s\n", m.vcpu_method().no_vcpu_view->message().c_str());
    std::fflush(stdout);

    RateRun run{.o = o, .p = p, .m = m, .target = target};
    const int code = measure_every(
        p.timing.interval, o.pid, "dtrack rate", "run ended",
        [&] { return p.timing.count == 0 || run.totals.samples < p.timing.count; },
        [&] { return measure_interval(run); });
    if (run.totals.samples && !o.json)
        print_summary(run.totals, p, m, forecast_now(run, run.totals.sum_rate / double(run.totals.samples) * 4096));
    return code;
}

}  // namespace

void add_rate_command(CLI::App& app, ChosenCommand& chosen) {
    auto o = std::make_shared<RateOptions>();
    CLI::App* cmd = add_command(app, chosen, "rate", "Measure how fast a VM or process dirties memory", o, run_rate);
    cmd->add_option("-p,--pid", o->pid, "the process (a VMM, or any process)")->required();
    add_method_flags(*cmd, o->method);
    add_interval_count_flags(*cmd, o->timing, default_interval);
    cmd->add_flag("-j,--json", o->json, "one JSON object per interval");
    cmd->add_option("--bandwidth", o->bandwidth,
                    "migration bandwidth for the forecast: bytes/s (1G = 1 GiB/s, binary) or bits/s as links are "
                    "sold (10Gbit, 10Gbps: 1.25e9 bytes/s)")
        ->capture_default_str();
    cmd->add_option("--downtime", o->downtime, "downtime limit for the forecast")->capture_default_str();
    cmd->add_option("--memory", o->memory, "guest memory round 1 copies (default: what the method sees)");
    cmd->add_option("--quota", o->quota,
                    "a per-vCPU dirty quota, pages/s (1000, 50k) or bytes/s (4M/s, 4MB/s): show each vCPU's rate "
                    "against it and which ones a per-vCPU dirty limit would slow");
    cmd->footer(
        "As vmstat: dtrack rate -p PID [INTERVAL [COUNT]] (-p 1234 1 3: every second, 3 times). Short options: -p "
        "--pid (as pidstat), -i --interval and -c --count (as ping), -j --json (as bpftool).\n"
        "The table's units: pages/s (4 KiB pages); MiB/s and WSS MiB in 2^20 bytes, as every size in dtrack; "
        "est +-N/s is an estimate's 95% bound in pages/s, like the figure: --bound is a share of the pages present, "
        "not of the figure.\n"
        "The sample method hashes pages of the target (process_vm_readv) and compares them with the last "
        "interval's. It reads only pages that are present: the kernel says which (PAGEMAP_SCAN), so memory the "
        "target never touched, or that maps the zero page, or is swapped out, is never faulted in and the target's "
        "memory stays as it was. It cannot see a write that leaves a page as it was, nor writes to a page that is "
        "swapped out now; a page that went away (unmapped, MADV_DONTNEED) is not a write. Memory the target shares "
        "with other processes is hashed too, so their writes count. See " +
        installed_doc("docs/sampling.md") +
        ".\n"
        "Per-vCPU rates (--quota) come from the kernel: for a KVM VMM with the dirty ring (method bpf) each vCPU's "
        "ring entries; for a process that runs no KVM VM (dtvm's process backend, whose vCPUs are threads) each "
        "thread's write faults (eBPF on exceptions:page_fault_user, x86), labelled by thread id and name. A write "
        "fault is a first write to a page not writable yet: a page newly dirtied where the process write-protects "
        "its memory again at each harvest, a first touch elsewhere. Other targets have none, and it says so.\n"
        "Exit codes: 0 the run ended (count reached, Ctrl-C, or the target exited), 1 a measurement failed, 2 bad "
        "input or a target or kernel feature that cannot be used (the message names the cause and the fix).");
}

}  // namespace dtrack::cli
