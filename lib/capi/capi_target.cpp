// Measuring a running VM or process from outside (TargetMeter), for C.
#include <algorithm>
#include <cstring>

#include "capi/capi_boundary.hpp"
#include "capi/capi_handles.hpp"
#include "capi/capi_sized_struct.hpp"

using namespace dtrack;
using namespace dtrack::capi;

namespace {

int logging_code(DirtyLogging l) {
    switch (l) {
        case DirtyLogging::off: return DT_LOGGING_OFF;
        case DirtyLogging::ring: return DT_LOGGING_RING;
        case DirtyLogging::bitmap: return DT_LOGGING_BITMAP;
    }
    return DT_LOGGING_OFF;
}

int evidence_code(LoggingEvidence e) {
    switch (e) {
        case LoggingEvidence::none: return DT_EVIDENCE_NONE;
        case LoggingEvidence::kernel: return DT_EVIDENCE_KERNEL;
        case LoggingEvidence::inferred: return DT_EVIDENCE_INFERRED;
    }
    return DT_EVIDENCE_NONE;
}

// The interval as the C struct says it; `exact` as dtrack rate says it.
dt_target_interval to_c(const TargetInterval& in, const TargetMeter& meter) {
    const RateSample& f = in.figure();
    const TargetMethod* method = in.choice.figure == DirtyFigure::vmm_dirty ? meter.kernel() : meter.hashing();
    dt_target_interval c{.sz = sizeof(dt_target_interval),
                         .seconds = f.seconds,
                         .figure = in.choice.figure == DirtyFigure::vmm_dirty ? DT_FIGURE_VMM_DIRTY : DT_FIGURE_WRITTEN,
                         .trusted = in.choice.trusted,
                         .exact = in.choice.trusted && !f.estimate && method && method->exact,
                         .pages = f.distinct_pages,
                         .bound_pages = f.estimate ? f.bound_pages : 0,
                         .lost = f.lost,
                         .logging = logging_code(in.logging.logging),
                         .evidence = evidence_code(in.logging.evidence),
                         .memslots_logging = in.logging.memslots_logging,
                         .has_vmm_dirty = in.vmm_dirty.has_value(),
                         .vmm_dirty_pages = in.vmm_dirty ? in.vmm_dirty->distinct_pages : 0,
                         .has_written = in.written.has_value(),
                         .written_pages = in.written ? in.written->distinct_pages : 0,
                         .written_bound_pages = in.written && in.written->estimate ? in.written->bound_pages : 0,
                         .why = {}};
    const size_t n = std::min(in.choice.why.size(), sizeof c.why - 1);
    std::memcpy(c.why, in.choice.why.data(), n);
    return c;
}

}  // namespace

extern "C" {

int dt_target_open(int pid, const struct dt_target_opts* opts, dt_target** out) {
    return c_boundary(__func__, [&] {
        if (!out) return null_argument("out");
        dt_target_opts o;
        if (int rc = read_options(opts, "dt_target_opts", o); rc < 0) return rc;
        TargetMeterOptions options;
        switch (o.method) {
            case DT_MEASURE_AUTO: options.method = MeasureMethod::automatic; break;
            case DT_MEASURE_KERNEL: options.method = MeasureMethod::kernel_events; break;
            case DT_MEASURE_SAMPLE: options.method = MeasureMethod::sample; break;
            default:
                return invalid("dt_target_opts.method is " + std::to_string(o.method),
                               "use DT_MEASURE_AUTO, DT_MEASURE_KERNEL or DT_MEASURE_SAMPLE");
        }
        if (o.max_error != 0 && !(o.max_error > 0 && o.max_error < 1))
            return invalid("dt_target_opts.max_error is " + std::to_string(o.max_error),
                           "give a share between 0 and 1 (0.02 for 2%), or 0 for the default");
        if (o.exact_sampling && (o.max_error != 0 || o.sample_pages))
            return invalid(
                "dt_target_opts: exact_sampling hashes every page, so max_error and sample_pages do not apply",
                "set either exact_sampling or the sample options");
        options.exact_sampling = o.exact_sampling;
        if (o.max_error != 0) options.max_error = o.max_error;
        options.sample_pages = o.sample_pages;
        if (pid <= 0) return invalid("pid " + std::to_string(pid) + " is not a process id", "give a PID > 0");
        auto meter = TargetMeter::open(pid, options);
        if (!meter) return fail(meter.error());
        auto handle = std::make_unique<dt_target>();
        handle->meter = std::move(meter.value());
        *out = handle.release();
        return 0;
    });
}

void dt_target_destroy(dt_target* target) { delete target; }

int dt_target_start(dt_target* target) {
    return c_boundary(__func__, [&] {
        if (!target) return null_argument("target");
        return status_code(target->meter->start());
    });
}

int dt_target_sample(dt_target* target, struct dt_target_interval* out) {
    return c_boundary(__func__, [&] {
        if (!target) return null_argument("target");
        if (int rc = check_result(out, "dt_target_interval", true); rc < 0) return rc;
        auto in = target->meter->sample();
        if (!in) return fail(in.error());
        write_result(out, to_c(*in, *target->meter));
        return 0;
    });
}

}  // extern "C"
