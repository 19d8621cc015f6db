// dtrack rate --pid N: how fast a running VM or process dirties memory,
// interval by interval (vmstat style: --interval, --count), exact where the
// kernel allows and labelled an estimate (with its bound) where not, and what
// that means for a precopy migration at a given bandwidth and downtime. With
// --quota, each vCPU's rate against a per-vCPU quota (vcpu_rates.hpp).
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <optional>
#include <vector>

#include "commands.hpp"
#include "dtrack/migration_forecast.hpp"
#include "dtrack/rate_meter.hpp"
#include "dtrack/units.hpp"
#include "interval_clock.hpp"
#include "method_flags.hpp"
#include "rate_method.hpp"
#include "vcpu_rates.hpp"

namespace dtrack::cli {

namespace {

struct RateOptions {
    int pid = 0;
    MethodFlags method;
    std::string interval = "1s";
    uint64_t count = 0;  // 0 = until the process exits or Ctrl-C
    bool json = false;
    std::string bandwidth = "1G";
    std::string downtime = "300ms";
    std::string memory;  // guest memory for the forecast; default: what the method sees
    std::string quota;   // per-vCPU quota, pages/s or bytes/s; empty: no per-vCPU table
};

// The per-vCPU table under an interval's line: the vCPUs that dirtied pages
// (a ring's vCPUs all), each against the quota.
void print_vcpu_table(const std::vector<VcpuRate>& rates) {
    std::printf("%8s%-32s %9s %8s  %s\n", "", "vCPU", "pages/s", "MB/s", "quota");
    size_t silent = 0;
    for (const VcpuRate& r : rates) {
        if (r.tid && r.pages_per_s == 0) {
            silent += r.alive;
            continue;
        }
        std::printf("%8s%-32s %9s %8.1f  %s\n", "", r.label().c_str(), format_count(r.pages_per_s).c_str(),
                    r.pages_per_s * 4096 / 1e6, r.over_quota ? "OVER: a limit would slow it" : "under");
    }
    if (silent) std::printf("%8s(%zu more threads dirtied nothing)\n", "", silent);
}

int usage_error(const Error& e) {
    std::fprintf(stderr, "dtrack rate: %s\n", e.message().c_str());
    return exit_usage;
}

int run_rate(const RateOptions& o) {
    auto method = parse_method_flags(o.method);
    if (!method) return usage_error(method.error());
    auto interval = parse_interval(o.interval);
    if (!interval) return usage_error(interval.error());
    auto bandwidth = parse_size(o.bandwidth, "--bandwidth");
    if (!bandwidth) return usage_error(bandwidth.error());
    auto downtime = parse_duration(o.downtime, "--downtime");
    if (!downtime) return usage_error(downtime.error());
    std::optional<uint64_t> memory;
    if (!o.memory.empty()) {
        auto m = parse_size(o.memory, "--memory");
        if (!m) return usage_error(m.error());
        memory = *m;
    }
    std::optional<double> quota;
    if (!o.quota.empty()) {
        auto q = parse_pages_per_second(o.quota, 4096, "--quota");
        if (!q) return usage_error(q.error());
        quota = *q;
        method->options.per_vcpu = true;
    }

    auto target = inspect_process(o.pid);
    if (!target) return usage_error(target.error());
    auto setup = setup_rate_method(method->method, *target, method->options);
    if (!setup) return usage_error(setup.error());
    Tracker& tracker = *setup->tracker;

    RateMeter meter(tracker);
    if (Status s = meter.start(); !s) return usage_error(s.error());
    catch_interrupts();

    if (!o.json) {
        std::printf("dtrack rate: pid %d (%s), method %s: %s, %s\n", target->pid, target->comm.c_str(),
                    setup->method.c_str(), setup->source.c_str(), setup->exact ? "exact" : "estimated");
        std::printf("  %s\n", setup->why.c_str());
        if (target->namespace_pids.size() > 1)
            std::printf("  pid %d is pid %d inside its own PID namespace (a container)\n", target->pid,
                        target->namespace_pids.back());
        if (quota) {
            std::printf("  quota: %s pages/s (%s/s) per vCPU", format_count(*quota).c_str(),
                        format_bytes(*quota * 4096).c_str());
            if (setup->no_vcpu_view)
                std::printf("; %s\n", setup->no_vcpu_view->message().c_str());
            else
                std::printf("; under each interval, each vCPU's rate from %s, and OVER where a per-vCPU dirty limit "
                            "at the quota would slow it\n",
                            vcpu_figure(*setup).c_str());
            if (setup->vcpu_view == VcpuView::thread_faults)
                std::printf("  a write fault is a thread's first write to a page not writable yet: a page newly "
                            "dirtied where the process write-protects its memory again (dtvm's process backend), "
                            "else a first touch\n");
        }
        std::printf("%7s %9s %8s %9s %-10s %s\n", "time", "pages/s", "MB/s", "WSS MiB", "figure",
                    setup->knows_vcpus ? "per vCPU, pages/s (ring entries)"
                    : setup->sample    ? "pages present / read (only present pages are read)"
                                       : "");
        std::fflush(stdout);
    } else if (quota && setup->no_vcpu_view) {
        std::fprintf(stderr, "dtrack rate: %s\n", setup->no_vcpu_view->message().c_str());
    }

    const auto start = std::chrono::steady_clock::now();
    std::vector<uint64_t> intervals_over;  // per vCPU: intervals above the quota
    std::vector<std::string> vcpu_labels;
    double peak = 0, sum_rate = 0;
    uint64_t samples = 0, wss = 0;
    const auto forecast_now = [&](double rate_bytes) {
        const uint64_t mem = memory.value_or(round_one_bytes(tracker, *setup, wss));
        return forecast_precopy({.memory_bytes = mem,
                                 .working_set_bytes = wss * 4096,
                                 .dirty_bytes_per_s = rate_bytes,
                                 .bandwidth = double(*bandwidth),
                                 .downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime)});
    };
    const int code = measure_every(*interval, o.pid, "dtrack rate", "run ended",
                                   [&] { return o.count == 0 || samples < o.count; }, [&]() -> Status {
        refresh_vcpu_threads(*setup, o.pid);
        auto s = meter.sample();
        if (!s) return s.error();
        ++samples;
        const std::vector<VcpuRate> rates = quota ? vcpu_rates(*s, *setup, quota) : std::vector<VcpuRate>{};
        intervals_over.resize(std::max(intervals_over.size(), rates.size()));
        vcpu_labels.resize(intervals_over.size());
        for (const VcpuRate& r : rates) {
            intervals_over[r.vcpu] += r.over_quota;
            vcpu_labels[r.vcpu] = r.label();
        }
        wss = working_set_pages(*s, *setup);
        const double rate = s->seconds > 0 ? s->distinct_pages / s->seconds : 0;
        peak = std::max(peak, rate);
        sum_rate += rate;
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const Forecast f = forecast_now(s->bytes_per_s);
        if (o.json) {
            nlohmann::json line{{"time_s", t},
                                {"pid", o.pid},
                                {"method", setup->method},
                                {"exact", !s->estimate && setup->exact},
                                {"interval_s", s->seconds},
                                {"distinct_pages", s->distinct_pages},
                                {"pages_per_s", rate},
                                {"bytes_per_s", s->bytes_per_s},
                                {"working_set_pages", wss},
                                {"lost", s->lost},
                                {"vcpu_pages_per_s", s->vcpu_pages_per_s},
                                {"forecast",
                                 {{"converges", f.converges},
                                  {"rounds", f.rounds},
                                  {"total_s", f.total_s},
                                  {"downtime_s", f.downtime_s},
                                  {"summary", f.summary}}}};
            if (s->estimate) line["bound_pages"] = s->bound_pages;
            if (quota) {
                line["quota_pages_per_s"] = *quota;
                if (setup->vcpu_view != VcpuView::none) {
                    line["vcpu_figure"] = vcpu_figure(*setup);
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
            if (setup->sample) {
                const SampleReadStats r = setup->sample->last_read_stats();
                line["present_pages"] = r.present;
                line["pages_read"] = r.pages_read;
                line["swapped_pages"] = r.swapped;
            }
            std::printf("%s\n", line.dump().c_str());
        } else {
            std::string figure = "exact";
            if (s->estimate) {
                char b[32];
                std::snprintf(b, sizeof b, "est +-%.0f%%",
                              s->distinct_pages > 0 ? 100 * s->bound_pages / s->distinct_pages : 0.0);
                figure = s->distinct_pages > 0 ? b : "est";
            } else if (!setup->exact) {
                figure = "estimate";
            }
            if (s->lost) figure += " lost:" + std::to_string(s->lost);
            std::string vcpus;
            for (size_t v = 0; v < s->vcpu_pages_per_s.size(); ++v) {
                if (s->vcpu_pages_per_s[v] == 0) continue;
                vcpus += (vcpus.empty() ? "" : " ") + std::to_string(v) + ":" + format_count(s->vcpu_pages_per_s[v]);
            }
            if (setup->sample) {
                const SampleReadStats r = setup->sample->last_read_stats();
                vcpus = format_count(double(r.present)) + " / " + format_count(double(r.pages_read));
                if (r.swapped) vcpus += " (" + format_count(double(r.swapped)) + " swapped, not read)";
            }
            std::printf("%6.1fs %9s %8.1f %9.1f %-10s %s\n", t, format_count(rate).c_str(), s->bytes_per_s / 1e6,
                        double(wss) * 4096 / (1 << 20), figure.c_str(), vcpus.c_str());
            if (quota && setup->vcpu_view != VcpuView::none) print_vcpu_table(rates);
        }
        std::fflush(stdout);
        return Ok{};
    });
    if (samples && !o.json) {
        const Forecast f = forecast_now(sum_rate / double(samples) * 4096);
        std::printf("over %llu intervals: %s pages/s on average, %s at peak, working set %.1f MiB\n",
                    (unsigned long long)samples, format_count(sum_rate / double(samples)).c_str(),
                    format_count(peak).c_str(), double(wss) * 4096 / (1 << 20));
        std::printf("precopy at %s/s with a %lld ms downtime limit: %s\n", format_bytes(double(*bandwidth)).c_str(),
                    (long long)std::chrono::duration_cast<std::chrono::milliseconds>(*downtime).count(),
                    f.summary.c_str());
        if (quota && setup->vcpu_view != VcpuView::none) {
            std::string over;
            for (size_t v = 0; v < intervals_over.size(); ++v)
                if (intervals_over[v])
                    over += std::string(over.empty() ? "" : ", ") + vcpu_labels[v] + " in " +
                            std::to_string(intervals_over[v]) + " of " + std::to_string(samples) + " intervals";
            std::printf("over the quota of %s pages/s: %s\n", format_count(*quota).c_str(),
                        over.empty() ? "no vCPU" : over.c_str());
        }
    }
    return code;
}

}  // namespace

void add_rate_command(CLI::App& app, ChosenCommand& chosen) {
    auto o = std::make_shared<RateOptions>();
    CLI::App* cmd = app.add_subcommand("rate", "Measure how fast a VM or process dirties memory");
    cmd->add_option("--pid", o->pid, "the process (a VMM, or any process)")->required();
    add_method_flags(*cmd, o->method);
    cmd->add_option("--interval", o->interval, "length of one measurement (e.g. 1s, 500ms)")->capture_default_str();
    cmd->add_option("--count", o->count, "stop after this many intervals (0: until the process exits or Ctrl-C)")
        ->capture_default_str();
    cmd->add_flag("--json", o->json, "one JSON object per interval");
    cmd->add_option("--bandwidth", o->bandwidth, "migration bandwidth for the forecast, bytes/s (e.g. 1G)")
        ->capture_default_str();
    cmd->add_option("--downtime", o->downtime, "downtime limit for the forecast")->capture_default_str();
    cmd->add_option("--memory", o->memory, "guest memory round 1 copies (default: what the method sees)");
    cmd->add_option("--quota", o->quota,
                    "a per-vCPU dirty quota, pages/s (1000, 50k) or bytes/s (4M/s, 4MB/s): show each vCPU's rate "
                    "against it and which ones a per-vCPU dirty limit would slow");
    cmd->footer(
        "The sample method hashes pages of the target (process_vm_readv) and compares them with the last "
        "interval's. It reads only pages that are present: the kernel says which (PAGEMAP_SCAN), so memory the "
        "target never touched, or that maps the zero page, or is swapped out, is never faulted in and the target's "
        "memory stays as it was. It cannot see a write that leaves a page as it was, nor writes to a page that is "
        "swapped out now; a page that went away (unmapped, MADV_DONTNEED) is not a write. Memory the target shares "
        "with other processes is hashed too, so their writes count. See docs/sampling.md.\n"
        "Per-vCPU rates (--quota) come from the kernel: for a KVM VMM with the dirty ring (method bpf) each vCPU's "
        "ring entries; for a process that runs no KVM VM (dtvm's process backend, whose vCPUs are threads) each "
        "thread's write faults (eBPF on exceptions:page_fault_user, x86), labelled by thread id and name. A write "
        "fault is a first write to a page not writable yet: a page newly dirtied where the process write-protects "
        "its memory again at each harvest, a first touch elsewhere. Other targets have none, and it says so.\n"
        "Exit codes: 0 the run ended (count reached, Ctrl-C, or the target exited), 1 a measurement failed, 2 bad "
        "input or a target or kernel feature that cannot be used (the message names the cause and the fix).");
    cmd->callback([&chosen, o] { chosen.run = [o] { return run_rate(*o); }; });
}

}  // namespace dtrack::cli
