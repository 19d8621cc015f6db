// dtrack sidecar: one per host, next to the VMs, scraped by Prometheus. It
// measures each target as `dtrack rate` would, on a harvester thread per
// target, and serves the figures on /metrics (the pieces: the rooms beside
// this file, http/, metrics/, pid_files/, targets/). Targets come from --pid
// and from a directory of pid files (libvirt's layout); one that exits is
// logged, counted and dropped while the others go on. SIGTERM or SIGINT: stop
// the harvesters, detach, close the socket, exit 0.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "common/installed_docs.hpp"
#include "commands.hpp"
#include "dtrack/units.hpp"
#include "dtrack/version.hpp"
#include "shared/rate_method.hpp"
#include "sidecar/http/http_endpoint.hpp"
#include "sidecar/kubevirt/kubevirt_targets.hpp"
#include "sidecar/metrics/metrics_registry.hpp"
#include "sidecar/metrics/own_process.hpp"
#include "sidecar/metrics/target_source.hpp"
#include "sidecar/pid_files/pid_file_targets.hpp"
#include "sidecar/targets/target_set.hpp"
#include "sidecar_log.hpp"

namespace dtrack::cli {

namespace {

using namespace sidecar;

struct SidecarOptions {
    std::vector<int> pids;
    std::string pid_file_dir;
    bool discover_kubevirt = false;  // KubeVirt's QEMUs on this node (hostPID), found by scanning /proc
    KubevirtScanOptions kubevirt;    // the runtimes' state directories
    std::string listen = "127.0.0.1:9464";
    std::string method = "auto";
    std::string interval = "1s";
    std::string bound = "2%";
    std::string quota;                        // per vCPU; empty: no per-vCPU rates against a quota
    std::string forecast_bandwidth;           // empty: no forecast series
    std::string forecast_downtime = "300ms";  // the forecast's downtime limit
    std::string web_config_file;              // node_exporter's format: TLS, basic auth
    // Above a load balancer's own idle timeout, so that it, not the sidecar,
    // closes a kept-alive connection (else its next request may meet a reset).
    std::string web_idle_timeout = "30s";
    // Each target is a harvester thread and its method's BPF programs and
    // maps (or hashing): 256 is above the VMs one host runs, and bounds what
    // a directory full of pid files can cost (see README, dtrack sidecar).
    int max_targets = 256;
};

int usage_error(const Error& e) {
    std::fprintf(stderr, "dtrack sidecar: %s\n", e.message().c_str());
    return exit_usage;
}

// Every option, before anything is bound or attached.
Result<HarvestOptions> check_options(const SidecarOptions& o) {
    if (o.pids.empty() && o.pid_file_dir.empty() && !o.discover_kubevirt)
        return Error{EINVAL, "nothing to watch",
                     "give --pid N (once per process), --pid-file-dir DIR or --discover-kubevirt"};
    for (size_t i = 0; i < o.pids.size(); ++i)
        if (std::count(o.pids.begin(), o.pids.end(), o.pids[i]) > 1)
            return Error{EINVAL, "--pid " + std::to_string(o.pids[i]) + " is given twice", "give each process once"};
    if (o.max_targets < 1)
        return Error{EINVAL, "--max-targets " + std::to_string(o.max_targets) + " allows no target",
                     "give 1 or more (default 256)"};
    if (o.pids.size() > size_t(o.max_targets))
        return Error{EINVAL,
                     std::to_string(o.pids.size()) + " --pid targets are more than --max-targets " +
                         std::to_string(o.max_targets),
                     "raise --max-targets"};
    auto method = parse_rate_method(o.method);
    if (!method) return method.error();
    auto interval = parse_interval(o.interval);
    if (!interval) return interval.error();
    auto bound = parse_bound(o.bound);
    if (!bound) return bound.error();
    HarvestOptions options{.method = {.method = *method, .max_error = *bound}, .interval = *interval};
    if (!o.quota.empty()) {
        auto quota = parse_pages_per_second(o.quota, 4096, "--quota");
        if (!quota) return quota.error();
        options.quota_pages_per_s = *quota;
        options.method.per_vcpu = true;
    }
    if (!o.forecast_bandwidth.empty()) {
        auto bandwidth = parse_bytes_per_second(o.forecast_bandwidth, "--forecast-bandwidth");
        if (!bandwidth) return bandwidth.error();
        if (*bandwidth == 0) return Error{EINVAL, "--forecast-bandwidth 0 moves nothing", "give e.g. 10Gbit"};
        options.forecast_bandwidth = double(*bandwidth);
    }
    auto downtime = parse_duration(o.forecast_downtime, "--forecast-downtime");
    if (!downtime) return downtime.error();
    options.forecast_downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime);
    return options;
}

// What the command line names, opened and checked before anything is bound
// or attached.
struct SidecarSetup {
    HarvestOptions harvest;
    ListenAddress listen;
    WebConfig web;
    ServerLimits server;
    std::optional<PidFileDir> pid_file_dir;
};

// --web-idle-timeout: at least 1 s (a scraper's connection must outlive its
// request), at most an hour (each idle connection holds one of the 64 places).
Result<std::chrono::milliseconds> parse_idle_timeout(const std::string& text) {
    auto idle = parse_duration(text, "--web-idle-timeout");
    if (!idle) return idle.error();
    if (*idle < std::chrono::seconds(1) || *idle > std::chrono::hours(1))
        return Error{EINVAL, "--web-idle-timeout " + text + " is outside 1s to 1h",
                     "give a duration from 1s to 1h (default 30s), above your load balancer's idle timeout"};
    return std::chrono::duration_cast<std::chrono::milliseconds>(*idle);
}

Result<SidecarSetup> open_setup(const SidecarOptions& o) {
    auto harvest = check_options(o);
    if (!harvest) return harvest.error();
    auto listen = parse_listen_address(o.listen);
    if (!listen) return listen.error();
    auto idle = parse_idle_timeout(o.web_idle_timeout);
    if (!idle) return idle.error();
    SidecarSetup setup{.harvest = *harvest, .listen = *listen};
    setup.server.connection.idle_time = *idle;
    if (!o.web_config_file.empty()) {
        auto loaded = load_web_config(o.web_config_file);
        if (!loaded) return loaded.error();
        setup.web = std::move(*loaded);
    }
    if (!o.pid_file_dir.empty()) {
        auto dir = PidFileDir::watch(o.pid_file_dir);
        if (!dir) return dir.error();
        setup.pid_file_dir.emplace(std::move(dir.value()));
    }
    for (int pid : o.pids)
        if (auto target = inspect_process(pid); !target) return target.error();
    return setup;
}

// What a scrape returns: the targets' figures and the sidecar's own.
HttpEndpoint::Scrape scrape_figures(TargetSet& targets, PidFileSkipCounts& skips, double start_time) {
    return [&targets, &skips, start_time] {
        const SidecarFigures self{.targets_attached = targets.attached(),
                                  .targets_exited = targets.exited(),
                                  .targets_refused = skips.by_reason(),
                                  .cpu_seconds = own_cpu_seconds(),
                                  .start_time_seconds = start_time,
                                  .version = dtrack::version()};
        return metric_families(targets.figures(), self);
    };
}

void log_serving(const SidecarOptions& o, const HttpEndpoint& endpoint, const TargetSet& targets,
                 const WebConfig& web) {
    log_line("serving " + endpoint.url() + "/metrics (" + std::to_string(targets.attached()) + " targets, every " +
             o.interval + ")");
    if (!endpoint.address().loopback() && !web.authenticates())
        log_line("warning: --listen " + o.listen +
                 " is reachable from other hosts, and /metrics has no authentication: anyone who can reach it "
                 "reads the targets' names and dirty rates (--web-config-file adds basic auth or client certificates)");
}

// Where targets come from besides --pid.
struct Discovery {
    std::optional<PidFileTargets> pid_files;
    std::optional<KubevirtTargets> kubevirt;
};

// The main loop: a harvester's wake-up drops the targets that exited, a
// pid-file change rescans, KubeVirt's timer scans, SIGTERM or SIGINT stops.
// Returns the exit code.
int serve_until_stopped(const UniqueFd& signals, const UniqueFd& wake, TargetSet& targets, Discovery& found) {
    auto& [pid_files, kubevirt] = found;
    for (;;) {
        pollfd fds[4] = {{.fd = signals.get(), .events = POLLIN},
                         {.fd = wake.get(), .events = POLLIN},
                         {.fd = pid_files ? pid_files->fd() : -1, .events = POLLIN},
                         {.fd = kubevirt ? kubevirt->fd() : -1, .events = POLLIN}};
        if (::poll(fds, 4, -1) < 0 && errno != EINTR) {
            log_line(errno_error("poll", errno).message());
            return exit_failure;
        }
        if (fds[0].revents) {
            signalfd_siginfo si{};
            (void)!::read(signals.get(), &si, sizeof si);
            log_line(std::string("stopping on ") + (si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM"));
            return exit_ok;
        }
        if (fds[1].revents) {
            uint64_t n;
            (void)!::read(wake.get(), &n, sizeof n);
            const auto exited = targets.drop_exited();
            if (pid_files) pid_files->on_exits(exited);
            if (kubevirt) kubevirt->on_exits(exited);
        }
        if (fds[2].revents) pid_files->on_changes();
        if (fds[3].revents) kubevirt->on_timer();
    }
}

int run_sidecar(const SidecarOptions& o) {
    auto setup = open_setup(o);
    if (!setup) return usage_error(setup.error());

    // Signals arrive through a signalfd in the main loop, so every thread
    // started from here on inherits them blocked.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    UniqueFd signals(::signalfd(-1, &stop_signals, SFD_CLOEXEC));
    UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));  // a harvester saw its process exit
    if (!signals.valid() || !wake.valid()) return usage_error(errno_error("signalfd/eventfd", errno));

    TargetSet targets(setup->harvest, [fd = wake.get()] {
        const uint64_t one = 1;
        (void)!::write(fd, &one, sizeof one);
    });
    PidFileSkipCounts skips;
    auto endpoint = HttpEndpoint::bind(setup->listen, scrape_figures(targets, skips, own_start_time_seconds()),
                                       setup->web, setup->server);
    if (!endpoint) return usage_error(endpoint.error());
    for (int pid : o.pids)
        if (Status s = targets.attach("", pid, target_source::pid_option); !s) return usage_error(s.error());
    Discovery found;
    if (setup->pid_file_dir) {
        found.pid_files.emplace(std::move(*setup->pid_file_dir), targets, size_t(o.max_targets), skips);
        found.pid_files->rescan();
    }
    if (o.discover_kubevirt) {
        auto kubevirt = KubevirtTargets::start(o.kubevirt, targets, size_t(o.max_targets));
        if (!kubevirt) return usage_error(kubevirt.error());
        found.kubevirt.emplace(std::move(*kubevirt));
        found.kubevirt->rescan();
    }

    endpoint.value()->start();
    log_serving(o, *endpoint.value(), targets, setup->web);
    const int code = serve_until_stopped(signals, wake, targets, found);
    // Harvesters stop and their sources detach (BPF programs and links are
    // closed; nothing is pinned), then the socket closes.
    targets.clear();
    endpoint.value().reset();
    return code;
}

}  // namespace

void add_sidecar_command(CLI::App& app, ChosenCommand& chosen) {
    auto o = std::make_shared<SidecarOptions>();
    CLI::App* cmd =
        add_command(app, chosen, "sidecar", "Serve the dirty rates of VMs or processes to Prometheus", o, run_sidecar);
    cmd->add_option("--pid", o->pids, "a process to measure (repeat for more); its target label is COMM-PID");
    cmd->add_option("--pid-file-dir", o->pid_file_dir,
                    "a directory of NAME.pid files (libvirt: /run/libvirt/qemu), watched: a file written attaches "
                    "its PID as target NAME, rewritten with another PID re-attaches, removed detaches");
    cmd->add_flag("--discover-kubevirt", o->discover_kubevirt,
                  "find KubeVirt's VMs on this node (run with the host's PID namespace): each QEMU in a pod's "
                  "compute container is target NAMESPACE_VMNAME, labelled pod, namespace and vm; a scan every 5 s");
    cmd->add_option("--containerd-root", o->kubevirt.containerd_root,
                    "--discover-kubevirt: containerd's task directory for the k8s.io namespace (ID/config.json)")
        ->capture_default_str();
    cmd->add_option("--crio-root", o->kubevirt.crio_root,
                    "--discover-kubevirt: CRI-O's container directory (ID/userdata/config.json)")
        ->capture_default_str();
    cmd->add_option("--max-targets", o->max_targets,
                    "at most this many targets, --pid ones included: pid files beyond it are logged, counted and "
                    "attached when a target goes")
        ->capture_default_str();
    cmd->add_option("--listen", o->listen, "address and port to serve /metrics on (IP:PORT, [IPv6]:PORT)")
        ->capture_default_str();
    cmd->add_option("--method", o->method, "auto | bpf | sample, as in dtrack rate")->capture_default_str();
    cmd->add_option("--interval", o->interval, "how often each target is harvested (e.g. 1s, 500ms)")
        ->capture_default_str();
    cmd->add_option("--bound", o->bound, "sample method: the 95% bound to sample for, as in dtrack rate")
        ->capture_default_str();
    cmd->add_option("--quota", o->quota,
                    "a per-vCPU dirty quota, pages/s (1000, 50k) or bytes/s (4M/s), as in dtrack rate: serves each "
                    "vCPU's rate and whether it is over (dtrack_vcpu_dirty_pages_per_second, dtrack_vcpu_over_quota)");
    cmd->add_option("--forecast-bandwidth", o->forecast_bandwidth,
                    "serve a precopy forecast per target at this bandwidth, bytes/s or bits/s as in dtrack rate "
                    "(dtrack_forecast_converges, dtrack_forecast_seconds, dtrack_forecast_bytes_per_guest_byte)");
    cmd->add_option("--forecast-downtime", o->forecast_downtime, "the forecast's downtime limit")
        ->capture_default_str();
    cmd->add_option("--web-idle-timeout", o->web_idle_timeout,
                    "how long a client's connection may wait idle, before and between its requests, before the "
                    "sidecar closes it (1s to 1h); behind a load balancer, give more than its own idle timeout")
        ->capture_default_str();
    cmd->add_option("--web-config-file", o->web_config_file,
                    "node_exporter's web config (YAML): tls_server_config (cert_file, key_file, client_auth_type, "
                    "client_ca_file, min_version, max_version) for HTTPS, basic_auth_users (NAME: bcrypt hash)");
    cmd->footer(
        "Serves http://LISTEN/metrics in the Prometheus text format 0.0.4, or OpenMetrics 1.0.0 when the scraper "
        "asks for it; / links it. Each target is measured as 'dtrack rate' measures it, on a thread of its own; a "
        "scrape only copies the last figures. The metrics are listed in " +
        installed_doc("README.md") +
        " (dtrack sidecar).\n"
        "Pid files: NAME.pid holds the PID, in decimal (what libvirt keeps in /run/libvirt/qemu, and QEMU's "
        "-pidfile writes). The directory must be root's (or the sidecar user's) and not writable by every user. A "
        "file is trusted when no one but its owner may write it and either root (or the sidecar's user) owns it "
        "in a directory no one else may write, or it names a process of its own owner. A process is measured "
        "once, under its first name. A file that is not trusted, names no process or one already measured or "
        "that may not be measured, or comes beyond --max-targets, is logged and skipped, and counted "
        "(dtrack_targets_refused_total{reason}); other files are ignored. If inotify drops events, the directory "
        "is read again.\n"
        "--discover-kubevirt: every 5 s, each QEMU (comm qemu-kvm or qemu-system-*) in a pod's container named "
        "compute (its /proc/PID/cgroup, and the config.json under --containerd-root or --crio-root) is target "
        "NAMESPACE_VMNAME (QEMU's -name guest=), labelled pod, namespace and vm; one whose names are not Kubernetes "
        "names, or whose -name is another namespace's, is logged and skipped. Run it with the host's PID namespace "
        "(deploy/kubernetes/).\n"
        "A target whose process exits is logged on stderr, counted (dtrack_target_exits_total) and dropped; the others "
        "go on. SIGTERM or SIGINT: stop, detach every BPF "
        "program, close the socket, exit 0.\n"
        "With --quota, per-vCPU rates as dtrack rate --quota has them: ring entries for a dirty-ring VMM, each "
        "thread's write faults for a process that runs no KVM VM (labels tid and thread); a target with neither is "
        "logged once, and has no dtrack_vcpu_* series.\n"
        "Security: listens on 127.0.0.1 unless --listen says otherwise (it warns then, unless --web-config-file asks "
        "for basic auth or verified client certificates). --web-config-file takes node_exporter's web config file: "
        "HTTPS, client certificates, basic auth users with bcrypt hashes; unknown keys are refused. Every client has "
        "limits: a request's head 16 KiB and 100 header lines (431), no body (413), 5 s per request however it is "
        "paced (408), 30 s idle, 64 connections (a new one closes the one waiting longest for its client). A --pid "
        "this user may not measure is refused with the reason; a pid-file directory "
        "anybody may write to, or another user owns, is refused. No files are written and no BPF objects are pinned.\n"
        "Exit codes: 0 stopped by SIGTERM or SIGINT, 1 a failure while running, 2 bad input (an option, a --pid "
        "that does not exist or may not be measured, --listen's port in use, a --pid-file-dir missing, another "
        "user's or every user's to write, a bad --web-config-file), with a "
        "message that names the cause and the fix; then nothing stays attached.");
}

}  // namespace dtrack::cli
