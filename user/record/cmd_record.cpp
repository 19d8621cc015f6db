// dtrack record --pid N -o run.dtz: the pages a running VM or process
// dirties, interval by interval, into a recording (docs/recording-format.md)
// that `dtrack report` reads. The method is chosen as for `dtrack rate`.
#include <cinttypes>
#include <cstdio>
#include <optional>
#include <utility>

#include "common/installed_docs.hpp"
#include "commands.hpp"
#include "dtrack/recording.hpp"
#include "dtrack/target_meter.hpp"
#include "dtrack/units.hpp"
#include "shared/interval_clock.hpp"
#include "shared/method_flags.hpp"
#include "shared/rate_method.hpp"

namespace dtrack::cli {

namespace {

struct RecordOptions {
    int pid = 0;
    MethodFlags method;
    std::string interval = "100ms";
    std::string duration = "30s";  // 0: until the process exits or Ctrl-C
    std::string output;
    size_t queue = 64;
};

int usage_error(const Error& e) {
    std::fprintf(stderr, "dtrack record: %s\n", e.message().c_str());
    return exit_usage;
}

// The VM's dirty logging over the interval now ending (from `last`, its
// start), for the record; none for a process without a KVM VM. A page set
// from the kernel's record reads low when the VM did not log into it for the
// whole interval.
std::optional<recording::IntervalLogging> interval_logging(LoggingView& last, const TargetMeter& meter,
                                                           const TargetMethod& method) {
    const LoggingView now = meter.read_logging();
    const LoggingView start = std::exchange(last, now);
    if (now.evidence == LoggingEvidence::none) return std::nullopt;
    const DirtyLogging record = method.bpf ? DirtyLogging::ring : DirtyLogging::bitmap;
    const bool kernel_figure = method.bpf || method.bitmap;
    return recording::IntervalLogging{.at_start = start.logging,
                                      .at_end = now.logging,
                                      .evidence = now.evidence,
                                      .reads_low = kernel_figure && now.evidence == LoggingEvidence::kernel &&
                                                   (start.logging != record || now.logging != record)};
}

int run_record(const RecordOptions& o) {
    auto method = parse_method_flags(o.method);
    if (!method) return usage_error(method.error());
    auto interval = parse_interval(o.interval);
    if (!interval) return usage_error(interval.error());
    auto duration = parse_duration(o.duration, "--duration");
    if (!duration) return usage_error(duration.error());
    if (o.queue < 1) return usage_error({EINVAL, "--queue must be at least 1", "use e.g. 64"});

    // One method for the whole recording: its regions go into the header.
    TargetMeterOptions options = *method;
    options.one_method = true;
    auto meter = TargetMeter::open(o.pid, options);
    if (!meter) return usage_error(meter.error());
    const TargetProcess* target = &(*meter)->target();
    const TargetMethod* setup = &(*meter)->only_method();
    Tracker& tracker = *setup->tracker;

    std::vector<Region> regions;
    for (RegionId id = 0; id < tracker.region_count(); ++id) regions.push_back(tracker.region(id));
    const uint32_t vcpus = setup->knows_vcpus ? std::max(target->vcpus, target->vcpus_with_ring) : 0;
    const recording::Header header = recording::make_header(
        std::move(regions), setup->name, setup->exact, "pid " + std::to_string(target->pid) + " (" + target->comm + ")",
        uint64_t(interval->count()), vcpus);
    auto sink = recording::file_sink(o.output);
    if (!sink) return usage_error(sink.error());
    auto writer = recording::Writer::create(std::move(*sink), header, {.queue_intervals = o.queue});
    if (!writer) return usage_error(writer.error());

    // A VMM's dirty logging, read at each interval's end, goes into its record.
    LoggingView meter_now = (*meter)->read_logging();
    recording::Recorder recorder(tracker, **writer);
    if (Status s = recorder.start(); !s) return usage_error(s.error());
    catch_interrupts();
    std::printf("dtrack record: pid %d (%s), method %s: %s, %s, every %s into %s\n", target->pid, target->comm.c_str(),
                setup->name.c_str(), setup->source.c_str(), setup->exact ? "exact" : "estimated", o.interval.c_str(),
                o.output.c_str());
    std::printf("  %s\n", (*meter)->why().c_str());
    std::fflush(stdout);

    const auto start = std::chrono::steady_clock::now();
    double pages = 0;  // distinct pages per interval, summed (the estimate, when sampling)
    uint64_t intervals = 0;
    const int code = measure_every(
        *interval, o.pid, "dtrack record", "recording ended",
        [&] {
            return duration->count() == 0 ||
                   uint64_t(intervals) * uint64_t(interval->count()) < uint64_t(duration->count());
        },
        [&]() -> Status {
            auto r = recorder.record(interval_logging(meter_now, **meter, *setup));
            if (!r) return r.error();
            const recording::Interval& in = r->interval;
            pages += in.estimated() ? in.estimated_pages : double(r->pages);
            ++intervals;
            return Ok{};
        });
    const Status closed = (*writer)->close();
    const recording::WriterStats st = (*writer)->stats();
    if (!closed) {
        std::fprintf(stderr, "dtrack record: %s\n", closed.error().message().c_str());
        return exit_failure;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("recorded %" PRIu64 " intervals (%" PRIu64
                " dropped: the writer fell behind), %s"
                " dirty pages (%s pages/s%s), %s in %s (%s per interval)\n",
                st.intervals, st.dropped, format_count(pages).c_str(),
                format_count(secs > 0 ? pages / secs : 0).c_str(), setup->exact ? "" : ", estimated",
                format_bytes(double(st.bytes)).c_str(), o.output.c_str(),
                format_bytes(st.intervals ? double(st.bytes) / double(st.intervals) : 0).c_str());
    return code;
}

}  // namespace

void add_record_command(CLI::App& app, ChosenCommand& chosen) {
    auto o = std::make_shared<RecordOptions>();
    CLI::App* cmd = add_command(app, chosen, "record",
                                "Record which pages a VM or process dirties, interval by interval", o, run_record);
    cmd->add_option("-p,--pid", o->pid, "the process (a VMM, or any process)")->required();
    cmd->add_option("-o,--output", o->output, "the recording to write (e.g. run.dtz)")->required();
    add_method_flags(*cmd, o->method);
    cmd->add_option("-i,--interval", o->interval, "length of one interval (10ms or more)")->capture_default_str();
    cmd->add_option("--duration", o->duration, "how long to record; 0: until the process exits or Ctrl-C")
        ->capture_default_str();
    cmd->add_option("--queue", o->queue,
                    "intervals that may wait for the writer thread; when it falls further behind, an interval is "
                    "recorded as dropped (never silently left out)")
        ->capture_default_str();
    cmd->footer(
        "Each interval's dirty pages, per-vCPU counts (bpf), the figure's exactness and bound (sample), and "
        "losses go into a zlib-compressed file of checksummed records (" +
        installed_doc("docs/recording-format.md") +
        "); a recording "
        "cut short (the recorder killed) stays readable up to its last whole interval. Read it with "
        "`dtrack report FILE`.\n"
        "Exit codes: 0 the recording ended (duration reached, Ctrl-C, or the target exited), 1 a measurement or "
        "a write failed (the file holds the intervals before it), 2 bad input or a target or kernel feature that "
        "cannot be used (the message names the cause and the fix).");
}

}  // namespace dtrack::cli
