#include "target_harvester.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

#include <cmath>

#include "sidecar_log.hpp"
#include "vcpu_rates.hpp"

namespace dtrack::cli::sidecar {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto window_10s = std::chrono::seconds(10);
constexpr auto window_60s = std::chrono::seconds(60);

std::string describe(const TargetFigures& f) {
    return "target " + f.target + " (pid " + std::to_string(f.pid) + ", " + f.comm + ")";
}

}  // namespace

Result<std::unique_ptr<TargetHarvester>> TargetHarvester::start(std::string target, pid_t pid,
                                                                const HarvestOptions& o,
                                                                std::function<void()> on_exit) {
    auto process = inspect_process(pid);
    if (!process) return process.error();
    // A pidfd names this process, not whoever gets its PID next.
    UniqueFd pidfd(int(::syscall(SYS_pidfd_open, pid, 0)));
    if (!pidfd.valid()) return errno_error("pidfd_open of pid " + std::to_string(pid), errno, "check the PID");
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
    if (!stop.valid()) return errno_error("eventfd", errno);
    auto setup = setup_rate_method(o.method, *process, o.method_options);
    if (!setup) return setup.error();

    TargetFigures identity{.target = target.empty() ? process->comm + "-" + std::to_string(pid) : std::move(target),
                           .pid = pid,
                           .comm = process->comm,
                           .method = setup->method,
                           .source = setup->source,
                           .exact = setup->exact};
    if (setup->tracker->region_count() > 0) identity.page_size = setup->tracker->region(0).page_size;
    std::unique_ptr<TargetHarvester> h(new TargetHarvester(std::move(identity), std::move(setup.value()),
                                                           std::move(pidfd), std::move(stop), o, std::move(on_exit)));
    if (Status s = h->meter_.start(); !s) return s.error();
    h->thread_ = std::thread([raw = h.get()] { raw->run(); });
    return h;
}

TargetHarvester::TargetHarvester(TargetFigures identity, RateSetup setup, UniqueFd pidfd, UniqueFd stop,
                                 const HarvestOptions& o, std::function<void()> on_exit)
    : identity_(std::move(identity)),
      setup_(std::move(setup)),
      meter_(*setup_.tracker),
      pidfd_(std::move(pidfd)),
      stop_(std::move(stop)),
      interval_(o.interval),
      quota_(o.quota_pages_per_s),
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

bool TargetHarvester::harvest_once() {
    refresh_vcpu_threads(setup_, identity_.pid);
    auto sample = meter_.sample([&](RegionId region, uint64_t word, uint64_t bits) {
        for (; bits; bits &= bits - 1) windows_.mark(region, word * 64 + uint64_t(__builtin_ctzll(bits)));
    });
    if (!sample) {
        if (sample.error().errno_value == ESRCH || !process_alive(identity_.pid)) return false;
        if (!failing_) log_line(describe(identity_) + ": a harvest failed: " + sample.error().message());
        failing_ = true;
        return true;
    }
    if (failing_) log_line(describe(identity_) + ": harvests work again");
    failing_ = false;
    windows_.close_interval(Clock::now());

    TargetFigures f = figures();  // this thread is the only writer
    ++f.harvests;
    f.measured_seconds += sample->seconds;
    f.dirty_pages += uint64_t(std::llround(std::max(sample->distinct_pages, 0.0)));
    read_counters(f);
    // The windows hold the pages the source marked: all of them for an exact
    // method. Sampling marks sampled pages, and its sample shrinks as the
    // target's memory grows (nested: today's sample is inside every earlier,
    // larger one), so only the window's pages in today's sample count, each
    // standing for present / in_sample pages. Scaling every page ever marked
    // by today's ratio would over-count (680 MiB for a 480 MiB set).
    if (setup_.sample && sample->estimate) {
        const SampleEstimate e = setup_.sample->last_estimate();
        const double scale = e.in_sample ? double(e.total) / double(e.in_sample) : 0;
        const Tracker& tracker = *setup_.tracker;
        const auto in_sample = [&](RegionId region, uint64_t page) {
            const Region& r = tracker.region(region);
            return setup_.sample->in_sample(r.base + page * r.page_size);
        };
        f.working_set_10s_pages = uint64_t(std::llround(double(windows_.distinct_pages_where(window_10s, in_sample)) * scale));
        f.working_set_60s_pages = uint64_t(std::llround(double(windows_.distinct_pages_where(window_60s, in_sample)) * scale));
    } else {
        f.working_set_10s_pages = windows_.distinct_pages(window_10s);
        f.working_set_60s_pages = windows_.distinct_pages(window_60s);
    }
    f.memory_bytes = round_one_bytes(*setup_.tracker, setup_, working_set_pages(*sample, setup_));
    if (sample->estimate) f.estimate_bound_pages = sample->bound_pages;
    f.vcpus.clear();
    for (const VcpuRate& r : vcpu_rates(*sample, setup_, quota_))
        f.vcpus.push_back({.tid = r.tid, .thread = r.thread, .alive = r.alive, .pages_per_s = r.pages_per_s,
                           .over_quota = r.over_quota});
    if (setup_.vcpu_view != VcpuView::none) f.quota_pages_per_s = quota_;

    std::lock_guard lock(figures_mutex_);
    figures_ = std::move(f);
    return true;
}

void TargetHarvester::read_counters(TargetFigures& f) const {
    const Counters c = setup_.tracker->counters();
    if (setup_.vcpu_view != VcpuView::none || setup_.knows_vcpus) f.vcpu_pages = c.pages_per_vcpu();
    if (!setup_.bpf) return;  // what follows only the kernel's view has
    // Memslots: the regions are slot ids 0..n-1; list those that ever had pages.
    f.slot_pages.clear();
    for (RegionId id = 0; id < c.pages_per_region.size() && id < setup_.tracker->region_count(); ++id)
        if (c.pages_per_region[id] > 0) f.slot_pages.emplace_back(setup_.tracker->region(id).slot, c.pages_per_region[id]);
    uint64_t lost = 0, overapproximated = 0;
    for (const SourceCounters& s : c.sources) {
        lost += s.lost;
        overapproximated += s.overapproximated;
    }
    f.lost_pages = lost;
    f.overapproximated_pages = overapproximated;
    const BpfCompanionCounters ring = setup_.bpf->companion_counters();
    f.ring_full_exits = 0;
    for (uint64_t n : ring.full_exits_per_vcpu) *f.ring_full_exits += n;
    f.ring_resets = 0;
    for (uint64_t n : ring.resets_per_ring) *f.ring_resets += n;
}

}  // namespace dtrack::cli::sidecar
