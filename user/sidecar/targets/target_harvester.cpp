#include "target_harvester.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <cmath>

#include "dtrack/migration_forecast.hpp"

#include "qemu_identity.hpp"
#include "shared/vcpu_rates.hpp"
#include "sidecar/sidecar_log.hpp"

namespace dtrack::cli::sidecar {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto window_10s = std::chrono::seconds(10);
constexpr auto window_60s = std::chrono::seconds(60);

std::string describe(const TargetFigures& f) {
    return "target " + f.target + " (pid " + std::to_string(f.pid) + ", " + f.comm + ")";
}

// The discoverer's labels, then the domain and UUID QEMU's command line gives
// (a name the discoverer set is kept).
TargetLabels with_qemu_identity(TargetLabels labels, pid_t pid) {
    const TargetLabels identity = qemu_identity_labels(pid);
    for (const TargetLabel& l : identity.all()) labels.add(l.name, l.value);
    return labels;
}

}  // namespace

Result<std::unique_ptr<TargetHarvester>> TargetHarvester::start(std::string target, pid_t pid, std::string_view source,
                                                                const HarvestOptions& o, std::function<void()> on_exit,
                                                                const TargetLabels& labels) {
    // A pidfd names this process, not whoever gets its PID next.
    UniqueFd pidfd(int(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd.valid()) return errno_error("pidfd_open of pid " + std::to_string(pid), errno, "check the PID");
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
    if (!stop.valid()) return errno_error("eventfd", errno);
    auto measured = TargetMeter::open(pid, o.method);
    if (!measured) return measured.error();
    const TargetProcess* process = &(*measured)->target();

    TargetFigures identity{.target = target.empty() ? process->comm + "-" + std::to_string(pid) : std::move(target),
                           .pid = pid,
                           .comm = process->comm,
                           .method = (*measured)->method(),
                           .source = std::string(source),
                           .labels = with_qemu_identity(labels, pid)};
    // "exact" is the method's, for the info series: auto's figure changes
    // with the VM's state, and dtrack_dirty_figure says which it is.
    const TargetMeter& m = **measured;
    identity.exact = m.method() == "auto" ? false : (m.kernel() ? m.kernel()->exact : m.hashing()->exact);
    const TargetMethod& ws = (*measured)->working_set_method();
    if (ws.tracker->region_count() > 0) identity.page_size = ws.tracker->region(0).page_size;
    std::unique_ptr<TargetHarvester> h(new TargetHarvester(std::move(identity), std::move(measured.value()),
                                                           std::move(pidfd), std::move(stop), o, std::move(on_exit)));
    if (Status s = h->measured_->start(); !s) return s.error();
    h->thread_ = std::thread([raw = h.get()] { raw->run(); });
    return h;
}

TargetHarvester::TargetHarvester(TargetFigures identity, std::unique_ptr<TargetMeter> measured, UniqueFd pidfd,
                                 UniqueFd stop, const HarvestOptions& o, std::function<void()> on_exit)
    : identity_(std::move(identity)),
      measured_(std::move(measured)),
      pidfd_(std::move(pidfd)),
      stop_(std::move(stop)),
      interval_(o.interval),
      quota_(o.quota_pages_per_s),
      forecast_bandwidth_(o.forecast_bandwidth),
      forecast_downtime_(o.forecast_downtime),
      on_exit_(std::move(on_exit)),
      windows_(window_60s),
      figures_(identity_) {
    read_counters(figures_);
}

TargetHarvester::~TargetHarvester() {
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    if (thread_.joinable()) thread_.join();
}

TargetFigures TargetHarvester::figures() const {
    std::lock_guard lock(figures_mutex_);
    return figures_;
}

bool TargetHarvester::exited() const {
    std::lock_guard lock(figures_mutex_);
    return exited_;
}

void TargetHarvester::run() {
    auto next = Clock::now() + interval_;
    for (;;) {
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
        pollfd fds[2] = {{.fd = stop_.get(), .events = POLLIN}, {.fd = pidfd_.get(), .events = POLLIN}};
        const int n = ::poll(fds, 2, int(std::max<int64_t>(wait.count(), 0)));
        if (n > 0 && fds[0].revents) return;  // stopping
        bool gone = n > 0 && fds[1].revents;
        if (!gone && Clock::now() >= next) {
            // A harvest that overran the interval does not queue up more.
            next = std::max(next + interval_, Clock::now());
            gone = !harvest_once();
        }
        if (gone) {
            {
                std::lock_guard lock(figures_mutex_);
                exited_ = true;
            }
            on_exit_();
            return;
        }
    }
}

bool TargetHarvester::still_measurable(const Error& failed) {
    if (failed.errno_value == ESRCH || !process_alive(identity_.pid)) return false;
    if (failed.errno_value == ESTALE) {  // it ran a new program: the memory measured is gone
        log_line(describe(identity_) + ": " + failed.what + "; dropped as if it exited");
        return false;
    }
    if (!failing_) log_line(describe(identity_) + ": a harvest failed: " + failed.message());
    failing_ = true;
    return true;
}

namespace {

// --forecast-bandwidth: dtrack rate's forecast from this interval's figures.
TargetFigures::PrecopyForecast precopy_forecast(const TargetFigures& f, double dirty_bytes_per_s, double bandwidth,
                                                std::chrono::milliseconds downtime) {
    const Forecast fc = forecast_precopy({.memory_bytes = f.memory_bytes,
                                          .working_set_bytes = f.working_set_60s_pages * f.page_size,
                                          .dirty_bytes_per_s = dirty_bytes_per_s,
                                          .bandwidth = bandwidth,
                                          .downtime = downtime});
    return {.converges = fc.converges, .total_s = fc.total_s, .bytes_per_guest_byte = fc.bytes_per_guest_byte};
}

}  // namespace

bool TargetHarvester::harvest_once() {
    TargetMethod& ws = measured_->working_set_method();
    measured_->vcpu_method().refresh_vcpu_threads(identity_.pid);
    auto in = measured_->sample([&](RegionId region, uint64_t word, uint64_t bits) {
        for (; bits; bits &= bits - 1) windows_.mark(region, word * 64 + uint64_t(__builtin_ctzll(bits)));
    });
    if (!in) return still_measurable(in.error());
    if (failing_) log_line(describe(identity_) + ": harvests work again");
    failing_ = false;
    windows_.close_interval(Clock::now());

    TargetFigures f = figures();  // this thread is the only writer
    const RateSample& figure = in->figure();
    const auto pages = [](const RateSample& s) { return uint64_t(std::llround(std::max(s.distinct_pages, 0.0))); };
    ++f.harvests;
    f.measured_seconds += figure.seconds;
    f.dirty_pages += pages(figure);
    if (in->vmm_dirty) f.vmm_dirty_pages = f.vmm_dirty_pages.value_or(0) + pages(*in->vmm_dirty);
    if (in->written) f.written_pages = f.written_pages.value_or(0) + pages(*in->written);
    if (f.figure != dirty_figure_name(in->choice.figure) && !f.figure.empty())
        log_line(describe(identity_) + ": now " + dirty_figure_name(in->choice.figure) + ": " + in->choice.why);
    f.figure = dirty_figure_name(in->choice.figure);
    f.figure_trusted = in->choice.trusted;
    if (in->logging.evidence != LoggingEvidence::none) {
        f.logging = dirty_logging_name(in->logging.logging);
        f.logging_evidence = logging_evidence_name(in->logging.evidence);
    }
    read_counters(f);
    // The working set is made of the pages the working-set setup marked:
    // all of them for an exact method. Sampling marks sampled pages, and its
    // sample shrinks as the target's memory grows (nested: today's sample is
    // inside every earlier, larger one), so only the window's pages in
    // today's sample count, each standing for present / in_sample pages.
    // Scaling every page ever marked by today's ratio would over-count
    // (680 MiB for a 480 MiB set).
    const RateSample& ws_sample = measured_->hashing() ? *in->written : *in->vmm_dirty;
    if (ws.sample && ws_sample.estimate) {
        const SampleEstimate e = ws.sample->last_estimate();
        const double scale = e.in_sample ? double(e.total) / double(e.in_sample) : 0;
        const Tracker& tracker = *ws.tracker;
        const auto in_sample = [&](RegionId region, uint64_t page) {
            const Region& r = tracker.region(region);
            return ws.sample->in_sample(r.base + page * r.page_size);
        };
        f.working_set_10s_pages =
            uint64_t(std::llround(double(windows_.distinct_pages_where(window_10s, in_sample)) * scale));
        f.working_set_60s_pages =
            uint64_t(std::llround(double(windows_.distinct_pages_where(window_60s, in_sample)) * scale));
    } else {
        f.working_set_10s_pages = windows_.distinct_pages(window_10s);
        f.working_set_60s_pages = windows_.distinct_pages(window_60s);
    }
    f.memory_bytes = ws.round_one_bytes(ws.working_set_pages(ws_sample));
    f.estimate_bound_pages.reset();
    if (figure.estimate) f.estimate_bound_pages = figure.bound_pages;
    f.vcpus.clear();
    TargetMethod& vcpu = measured_->vcpu_method();
    // Ring vCPUs' rates mean something only while the rings cover the guest.
    const bool ring_rates_hold = in->choice.figure == DirtyFigure::vmm_dirty && in->choice.trusted;
    if (vcpu.vcpu_view == VcpuView::thread_faults || (vcpu.vcpu_view == VcpuView::ring && ring_rates_hold)) {
        const RateSample& s = vcpu.vcpu_view == VcpuView::ring ? *in->vmm_dirty : *in->written;
        for (const VcpuRate& r : vcpu_rates(s, vcpu, quota_))
            f.vcpus.push_back({.tid = r.tid,
                               .thread = r.thread,
                               .alive = r.alive,
                               .pages_per_s = r.pages_per_s,
                               .over_quota = r.over_quota});
    }
    if (vcpu.vcpu_view != VcpuView::none) f.quota_pages_per_s = quota_;
    if (forecast_bandwidth_)
        f.forecast = precopy_forecast(f, figure.bytes_per_s, *forecast_bandwidth_, forecast_downtime_);

    std::lock_guard lock(figures_mutex_);
    figures_ = std::move(f);
    return true;
}

void TargetHarvester::read_counters(TargetFigures& f) const {
    const TargetMethod& vcpu = measured_->vcpu_method();
    if (vcpu.vcpu_view != VcpuView::none || vcpu.knows_vcpus) f.vcpu_pages = vcpu.tracker->counters().pages_per_vcpu();
    const TargetMethod* kernel = measured_->kernel();
    if (!kernel || !kernel->bpf) return;  // what follows only the kernel's view has
    const Counters c = kernel->tracker->counters();
    // Memslots: the regions are slot ids 0..n-1; list those that ever had pages.
    f.slot_pages.clear();
    for (RegionId id = 0; id < c.pages_per_region.size() && id < kernel->tracker->region_count(); ++id)
        if (c.pages_per_region[id] > 0)
            f.slot_pages.emplace_back(kernel->tracker->region(id).slot, c.pages_per_region[id]);
    uint64_t lost = 0, overapproximated = 0;
    for (const SourceCounters& s : c.sources) {
        lost += s.lost;
        overapproximated += s.overapproximated;
    }
    f.lost_pages = lost;
    f.overapproximated_pages = overapproximated;
    const BpfCompanionCounters ring = kernel->bpf->companion_counters();
    f.ring_full_exits = 0;
    for (uint64_t n : ring.full_exits_per_vcpu) *f.ring_full_exits += n;
    f.ring_resets = 0;
    for (uint64_t n : ring.resets_per_ring) *f.ring_resets += n;
    f.vcpu_ring_full_exits = ring.full_exits_per_vcpu;
    f.stuck_vcpus = kernel->bpf->stuck_vcpus().size();
}

}  // namespace dtrack::cli::sidecar
