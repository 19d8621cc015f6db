#include "dtvm/options/options.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/tcp.hpp"
#include "dtrack/units.hpp"
#include "dtrack/version.hpp"

namespace dtvm {

namespace {

int bad_input(const dtrack::Error& e) {
    std::fprintf(stderr, "dtvm: %s\n", e.message().c_str());
    return exit_bad_input;
}

// The strings as typed; turned into typed values below.
struct Typed {
    std::string mem = "256M", wss = "64M", rate = "0", duration = "10s", interval = "1s";
    std::string workload = "hotcold", track = "auto", backend = "auto";
    std::string migrate_to, incoming, bandwidth = "0", downtime = "300ms", max_time = "0", background_sync = "5s",
                warmup = "1s";
    std::string tls_creds, tls_psk, tls_psk_identity = "qemu";
    std::string dirty_limit, dirty_limit_period = "1s", dirty_limit_sleep = "auto";
};

// A cap under the receiver's pace floor cannot succeed: dtvm --incoming
// (default ReceiverOptions) cuts the sender off after its first window.
dtrack::Status check_bandwidth(uint64_t bandwidth) {
    const dtrack::precopy::ReceiverOptions receiver;
    if (bandwidth == 0 || bandwidth >= receiver.min_bytes_per_s) return dtrack::Ok{};
    const std::string floor = dtrack::format_bytes(double(receiver.min_bytes_per_s));
    return dtrack::Error{EINVAL,
                         "--bandwidth " + dtrack::format_bytes(double(bandwidth)) + "/s is under the " + floor +
                             "/s a dtvm --incoming receiver requires: it ends a migration that brings less in " +
                             std::to_string(receiver.rate_window.count() / 1000) + " s",
                         "use --bandwidth " + std::to_string(receiver.min_bytes_per_s / 1024) +
                             "K or more, or 0 for no cap"};
}

// --tls-creds, --tls-psk, --insecure: consistent, credentials loaded for
// this end's role, and --incoming off loopback only with TLS or --insecure.
dtrack::Status check_security(const Typed& t, Options& o) {
    using namespace dtrack::precopy;
    const bool tls = !t.tls_creds.empty() || !t.tls_psk.empty();
    if (!t.tls_creds.empty() && !t.tls_psk.empty())
        return dtrack::Error{EINVAL, "--tls-creds and --tls-psk exclude each other", "choose x509 or a PSK"};
    if ((tls || o.insecure) && t.migrate_to.empty() && t.incoming.empty())
        return dtrack::Error{EINVAL, "--tls-creds, --tls-psk and --insecure are for a migration",
                             "add --migrate-to or --incoming"};
    if (tls && o.insecure)
        return dtrack::Error{EINVAL, "--insecure and TLS credentials exclude each other",
                             "drop --insecure: with TLS any address is allowed"};
    const TlsRole role = t.incoming.empty() ? TlsRole::client : TlsRole::server;
    if (!t.tls_creds.empty()) {
        auto creds = TlsCredentials::load_x509(t.tls_creds, role);
        if (!creds) return creds.error();
        o.tls = creds.value();
    } else if (!t.tls_psk.empty()) {
        auto creds = TlsCredentials::load_psk(t.tls_psk, role, t.tls_psk_identity);
        if (!creds) return creds.error();
        o.tls = creds.value();
    }
    if (t.incoming.empty()) return dtrack::Ok{};
    auto address = parse_tcp_address(t.incoming);
    if (!address) return address.error();
    if (!is_loopback(*address) && !tls && !o.insecure)
        return dtrack::Error{EACCES,
                             "--incoming " + t.incoming +
                                 " without TLS: any host that connects first could write this guest's memory",
                             "give --tls-creds DIR or --tls-psk FILE (the same on the source), listen on "
                             "127.0.0.1, or add --insecure on a trusted network"};
    return dtrack::Ok{};
}

// --dirty-limit, --dirty-limit-period into `o`.
dtrack::Status parse_dirty_limit(const Typed& t, bool auto_converge, Options& o) {
    if (t.dirty_limit_sleep != "auto" && t.dirty_limit_sleep != "slice" && t.dirty_limit_sleep != "ring-full")
        return dtrack::Error{EINVAL, "unknown --dirty-limit-sleep '" + t.dirty_limit_sleep + "'",
                             "use ring-full, slice or auto"};
    auto period = dtrack::parse_duration(t.dirty_limit_period, "--dirty-limit-period");
    if (!period) return period.error();
    if (*period < std::chrono::milliseconds(1) || *period > std::chrono::seconds(1))
        return dtrack::Error{EINVAL, "--dirty-limit-period " + t.dirty_limit_period + " is out of range",
                             "give 1ms to 1s (QEMU's x-vcpu-dirty-limit-period range), e.g. 1s"};
    o.dirty_limit_period = std::chrono::duration_cast<std::chrono::milliseconds>(*period);
    if (t.dirty_limit.empty()) return dtrack::Ok{};
    if (auto_converge && !t.migrate_to.empty())
        return dtrack::Error{EINVAL, "--dirty-limit and --auto-converge exclude each other (as QEMU's dirty-limit "
                                     "and auto-converge capabilities do): both answer the same trigger",
                             "choose one: --dirty-limit slows only the vCPUs that dirty memory, --auto-converge "
                             "slows every vCPU alike"};
    auto rate = dtrack::parse_pages_per_second(t.dirty_limit, 4096, "--dirty-limit");
    if (!rate) return rate.error();
    o.dirty_limit = *rate;
    return dtrack::Ok{};
}

}  // namespace

std::string backend_line(const Options& o) {
    if (o.backend_why.empty()) return "";
    return "dtvm: backend " + backend_name(o.vm.backend) + ": " + o.backend_why;
}

std::variant<Options, int> parse_command_line(int argc, char** argv) {
    Options o;
    Typed t;
    o.vm.vcpus = 2;
    o.vm.slots = 3;
    bool auto_converge = false, compress = false, print_backend = false;
    int64_t readers = 0;  // signed, so that a negative count gets our message
    CLI::App app{"dtvm: a small VMM whose guest writes stamped pages; tracks them with libdtrack, checks that "
                 "no written page is missed, and migrates its memory over TCP. Runs a real KVM guest, or the same "
                 "workload on worker threads over userfaultfd-tracked memory where there is no KVM (--backend)."};
    app.set_version_flag("--version", std::string("dtvm ") + dtrack::version());
    app.footer("Exit codes: 0 every written page was reported (or the migration completed), 1 a written page was not "
               "reported, 2 bad input or a missing kernel feature (the message names the cause and the fix), 3 the "
               "guest or KVM failed, 4 the migration did not complete (the guest runs on).");
    app.add_option("--mem", t.mem, "guest memory (e.g. 256M)")->capture_default_str();
    app.add_option("--vcpus", o.vm.vcpus, "vCPUs (1-255)")->capture_default_str();
    app.add_option("--readers", readers,
                   "reader vCPUs after the --vcpus writers: each reads the whole working set as fast as it runs "
                   "(no --rate), writes none of it, and is throttled like the writers; with --vcpus at most 255")
        ->capture_default_str();
    app.add_option("--slots", o.vm.slots, "memslots to split the memory into; the last is not a multiple of 64 pages")
        ->capture_default_str();
    app.add_option("--workload", t.workload, "sequential | random | hotcold")->capture_default_str();
    app.add_option("--wss", t.wss, "working set, split evenly between the vCPUs")->capture_default_str();
    app.add_option("--rate", t.rate, "page writes/s per vCPU (e.g. 50k); 0 = as fast as it runs")
        ->capture_default_str();
    app.add_option("--hot-fraction", o.workload.hot_fraction, "hotcold: share of the working set that is hot")
        ->capture_default_str();
    app.add_option("--hot-share", o.workload.hot_share, "hotcold: share of the writes that go to the hot part")
        ->capture_default_str();
    app.add_option("--seed", o.workload.seed, "guest PRNG seed")->capture_default_str();
    app.add_option("--exit-every", o.workload.exit_every, "guest exits to the VMM every K writes")
        ->capture_default_str();
    app.add_option("--backend", t.backend,
                   "kvm (a real KVM guest) | process (worker threads over userfaultfd-tracked memory, no KVM "
                   "needed) | auto (kvm where /dev/kvm works)")
        ->capture_default_str();
    app.add_flag("--print-backend", print_backend,
                 "print the backend --backend would use here and why (\"process: ...\"), then exit");
    app.add_option("--track", t.track,
                   "ring (KVM dirty ring) | log (KVM dirty log) | uffd (userfaultfd + PAGEMAP_SCAN, process "
                   "backend) | auto (ring on kvm, uffd on process)")
        ->capture_default_str();
    app.add_option("--ring-size", o.tracking.ring_entries, "dirty ring entries per vCPU (power of two)")
        ->capture_default_str();
    app.add_option("--duration", t.duration, "how long to run the check loop (e.g. 10s)")->capture_default_str();
    app.add_option("--interval", t.interval, "how often to check and print")->capture_default_str();
    app.add_flag("--json", o.json, "one JSON object per interval instead of the table");
    app.add_option("--throttle", o.throttle_pct,
                   "hold each vCPU this % of the time, as auto-converge does (0-99; not with --migrate-to, whose "
                   "throttle is --auto-converge's)")
        ->capture_default_str();
    app.add_option("--record", o.record,
                   "write the pages taken each interval to FILE, a recording `dtrack report` reads "
                   "(docs/recording-format.md)")
        ->type_name("FILE");
    app.add_flag("--emulated", o.vm.emulated, "run the guest under KVM's instruction emulator (slow; provokes ring jams)");
    // Migration, source side.
    app.add_option("--migrate-to", t.migrate_to, "migrate the guest's memory to a dtvm --incoming (tcp://HOST:PORT)");
    app.add_option("--bandwidth", t.bandwidth, "migration bandwidth cap in bytes/s (e.g. 100M, at least 64K); 0 = none")
        ->capture_default_str();
    app.add_option("--downtime", t.downtime, "switch over once the rest fits in this pause")->capture_default_str();
    app.add_option("--max-time", t.max_time, "give up after this long, the guest running on; 0 = never")
        ->capture_default_str();
    app.add_flag("--auto-converge", auto_converge, "throttle the vCPUs when the guest dirties faster than we send");
    app.add_option("--background-sync", t.background_sync,
                   "harvest between rounds when a round runs longer than this (e.g. 5s), or 'off'")
        ->capture_default_str();
    app.add_option("--dirty-limit", t.dirty_limit,
                   "hold each vCPU's dirty rate to RATE: pages/s (1000, 50k) or bytes/s (4M/s, 4MB/s), per vCPU; "
                   "only the vCPUs above it sleep. From the start in the check loop; with --migrate-to once the "
                   "guest dirties faster than we send (auto-converge's trigger). Not with --auto-converge or "
                   "--throttle")
        ->type_name("RATE");
    app.add_option("--dirty-limit-period", t.dirty_limit_period,
                   "measure each vCPU's rate and adjust its sleep this often (1ms-1s, as QEMU's)")
        ->capture_default_str();
    app.add_option("--dirty-limit-sleep", t.dirty_limit_sleep,
                   "where a limited vCPU sleeps: ring-full (at KVM_EXIT_DIRTY_RING_FULL, as QEMU; --track ring "
                   "only, no reaper), slice (its share of every 10 ms slice) or auto (ring-full with --track ring, "
                   "else slice)")
        ->capture_default_str();
    app.add_option("--warmup", t.warmup, "let the guest write this long before migrating")->capture_default_str();
    app.add_flag("--compress", compress, "zlib-compress page batches");
    // Migration, destination side.
    app.add_option("--incoming", t.incoming,
                   "receive a migration on tcp://HOST:PORT (port 0: any free port); without TLS only on loopback "
                   "(127.0.0.0/8) unless --insecure. One sender; it is cut off when silent for 20 s, slower than "
                   "64 KiB/s over 10 s, or past --max-time")
        ->type_name("URI");
    // Migration security, both ends.
    app.add_option("--tls-creds", t.tls_creds,
                   "TLS 1.3 with x509 credentials from DIR in QEMU's layout: ca-cert.pem on both ends, "
                   "server-cert.pem + server-key.pem for --incoming, client-cert.pem + client-key.pem for "
                   "--migrate-to; each end verifies the other against ca-cert.pem, the source also the address "
                   "it connects to")
        ->type_name("DIR");
    app.add_option("--tls-psk", t.tls_psk,
                   "TLS 1.3 with a pre-shared key from FILE in QEMU's keys.psk format (IDENTITY:HEXKEY lines), the "
                   "same file on both ends")
        ->type_name("FILE");
    app.add_option("--tls-psk-identity", t.tls_psk_identity, "--migrate-to: the identity whose key it uses")
        ->type_name("NAME")
        ->capture_default_str();
    app.add_flag("--insecure", o.insecure,
                 "--incoming: listen beyond loopback without TLS; whoever connects first may write guest memory "
                 "(a warning is printed)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_bad_input;
    }

    auto mem = dtrack::parse_size(t.mem, "--mem");
    if (!mem) return bad_input(mem.error());
    auto wss = dtrack::parse_size(t.wss, "--wss");
    if (!wss) return bad_input(wss.error());
    auto rate = dtrack::parse_count(t.rate, "--rate");
    if (!rate) return bad_input(rate.error());
    auto duration = dtrack::parse_duration(t.duration, "--duration");
    if (!duration) return bad_input(duration.error());
    auto interval = dtrack::parse_duration(t.interval, "--interval");
    if (!interval) return bad_input(interval.error());
    auto pattern = parse_pattern(t.workload);
    if (!pattern) return bad_input(pattern.error());
    if (o.vm.vcpus < 1 || o.vm.vcpus > 255)
        return bad_input({EINVAL, "--vcpus " + std::to_string(o.vm.vcpus) + " is out of range", "use 1 to 255"});
    if (readers < 0 || o.vm.vcpus + readers > 255) {
        const std::string room = "0 to " + std::to_string(255 - o.vm.vcpus);
        return bad_input({EINVAL,
                          "--readers " + std::to_string(readers) + " is out of range: next to --vcpus " +
                              std::to_string(o.vm.vcpus) + " there is room for " + room + " readers (255 vCPUs in all)",
                          "use --readers " + room + ", or fewer --vcpus"});
    }
    o.vm.readers = uint32_t(readers);
    if (o.vm.slots < 1 || o.vm.slots > 32)
        return bad_input({EINVAL, "--slots " + std::to_string(o.vm.slots) + " is out of range", "use 1 to 32"});
    const uint32_t ring = o.tracking.ring_entries;
    if (ring < 256 || (ring & (ring - 1)))
        return bad_input({EINVAL, "--ring-size " + std::to_string(ring) + " is not a power of two >= 256",
                          "use e.g. 4096 or 65536"});
    if (*rate > 1'000'000'000)
        return bad_input({EINVAL, "--rate " + t.rate + " is beyond any vCPU: at most 1G writes/s",
                          "give e.g. 50k, or 0 for as fast as it runs"});
    if (*interval <= std::chrono::nanoseconds(0))
        return bad_input({EINVAL, "--interval must be positive", "use e.g. 1s"});
    if (o.throttle_pct < 0 || o.throttle_pct > 99)
        return bad_input({EINVAL, "--throttle " + std::to_string(o.throttle_pct) + " is out of range",
                          "give a percentage from 0 to 99, as auto-converge's steps are"});
    if (o.workload.exit_every < 1) return bad_input({EINVAL, "--exit-every must be at least 1", "use e.g. 256"});
    if (!(o.workload.hot_fraction > 0 && o.workload.hot_fraction < 1 && o.workload.hot_share >= 0 &&
          o.workload.hot_share <= 1))
        return bad_input({EINVAL, "--hot-fraction must be in (0,1) and --hot-share in [0,1]", "use e.g. 0.1 and 0.9"});

    if (t.backend != "auto" && t.backend != "kvm" && t.backend != "process")
        return bad_input({EINVAL, "unknown backend '" + t.backend + "'", "use --backend kvm, process or auto"});
    if (t.track != "auto" && t.track != "ring" && t.track != "log" && t.track != "uffd")
        return bad_input({EINVAL, "unknown tracking mode '" + t.track + "'", "use --track ring, log, uffd or auto"});

    o.vm.mem_bytes = *mem;
    if (dtrack::Status s = check_vm_options(o.vm); !s) return bad_input(s.error());
    o.workload.pattern = *pattern;
    o.workload.wss_pages = *wss / 4096;
    o.workload.rate_per_vcpu = *rate;
    const uint64_t room = workload_capacity(o.vm);
    if (t.incoming.empty() && (o.workload.wss_pages < o.vm.vcpus || o.workload.wss_pages > room))
        return bad_input({EINVAL,
                          "--wss " + dtrack::format_bytes(double(o.workload.wss_pages) * 4096) +
                              " does not fit: the guest has room for " + dtrack::format_bytes(double(room) * 4096) +
                              " of working set, at least one page per vCPU",
                          "lower --wss or raise --mem"});
    o.duration = *duration;
    o.interval = std::min(*interval, *duration);  // one check at the end of a short run, not none
    o.incoming = t.incoming;
    if (!t.incoming.empty()) {
        auto max_time = dtrack::parse_duration(t.max_time);
        if (!max_time) return bad_input(max_time.error());
        o.incoming_max_time = *max_time;
    }

    if (!t.migrate_to.empty() && !t.incoming.empty())
        return bad_input({EINVAL, "--migrate-to and --incoming exclude each other",
                          "run one dtvm with --incoming and another with --migrate-to"});
    if (!t.migrate_to.empty()) {
        if (o.throttle_pct != 0)
            return bad_input({EINVAL, "--throttle is for the check loop; a migration's throttle comes from --auto-converge",
                              "leave out --throttle, or --migrate-to"});
        MigrationOptions m;
        m.to = t.migrate_to;
        auto bw = dtrack::parse_size(t.bandwidth, "--bandwidth");
        if (!bw) return bad_input(bw.error());
        if (dtrack::Status s = check_bandwidth(*bw); !s) return bad_input(s.error());
        auto downtime = dtrack::parse_duration(t.downtime, "--downtime");
        if (!downtime) return bad_input(downtime.error());
        auto max_time = dtrack::parse_duration(t.max_time, "--max-time");
        if (!max_time) return bad_input(max_time.error());
        auto warmup = dtrack::parse_duration(t.warmup, "--warmup");
        if (!warmup) return bad_input(warmup.error());
        m.bandwidth = *bw;
        m.downtime = std::chrono::duration_cast<std::chrono::milliseconds>(*downtime);
        m.max_time = *max_time;
        m.warmup = std::chrono::duration_cast<std::chrono::milliseconds>(*warmup);
        m.auto_converge = auto_converge;
        m.compress = compress;
        if (t.background_sync == "off") {
            m.background_sync.reset();
        } else {
            auto bs = dtrack::parse_duration(t.background_sync, "--background-sync");
            if (!bs) return bad_input(bs.error());
            if (*bs <= std::chrono::nanoseconds(0))
                return bad_input({EINVAL, "--background-sync must be positive or 'off'", "use e.g. 5s or off"});
            m.background_sync = std::chrono::duration_cast<std::chrono::milliseconds>(*bs);
        }
        o.migrate = m;
    }
    if (dtrack::Status s = parse_dirty_limit(t, auto_converge, o); !s) return bad_input(s.error());
    if (o.dirty_limit && !t.incoming.empty())
        return bad_input({EINVAL, "--dirty-limit limits a running guest's vCPUs, and --incoming runs none",
                          "give it to the source (--migrate-to), or leave it out"});
    if (o.dirty_limit && o.throttle_pct != 0)
        return bad_input({EINVAL, "--dirty-limit and --throttle exclude each other: one holds each vCPU to a rate, "
                                  "the other every vCPU to a share of time",
                          "choose one"});

    if (!o.record.empty() && (!t.migrate_to.empty() || !t.incoming.empty()))
        return bad_input({EINVAL, "--record records the check loop's intervals, not a migration",
                          "leave out --record, or --migrate-to / --incoming"});
    if (dtrack::Status s = check_security(t, o); !s) return bad_input(s.error());

    // Every option is checked; only now look at the machine (auto opens /dev/kvm).
    std::string backend = t.backend;
    if (backend == "auto" && (t.track == "ring" || t.track == "log")) backend = "kvm";  // they need KVM
    if (backend == "auto" && t.track == "uffd") backend = "process";
    auto choice = choose_backend(backend);
    if (!choice) return bad_input(choice.error());
    o.vm.backend = choice->backend;
    o.backend_why = choice->why;
    if (print_backend) {
        std::printf("%s: %s\n", backend_name(choice->backend).c_str(),
                    choice->why.empty() ? "asked for with --backend" : choice->why.c_str());
        return exit_ok;
    }
    auto mode = parse_track_mode(t.track, o.vm.backend);
    if (!mode) return bad_input(mode.error());
    o.tracking.mode = *mode;
    if (o.dirty_limit) {
        const bool ring = o.tracking.mode == TrackMode::ring;
        if (t.dirty_limit_sleep == "ring-full" && !ring)
            return bad_input({EINVAL, "--dirty-limit-sleep ring-full needs the KVM dirty ring, and this run tracks with " +
                                          track_mode_name(o.tracking.mode),
                              "use --dirty-limit-sleep slice (or auto), or --track ring on KVM"});
        o.vm.share_at = ring && t.dirty_limit_sleep != "slice" ? ShareAt::ring_full : ShareAt::slice;
        // Rings must fill for a vCPU to sleep at ring-full exits: no reaper emptying them first.
        if (o.vm.share_at == ShareAt::ring_full) o.tracking.reaper = false;
        o.tracking.vcpu_thread_faults = o.tracking.mode == TrackMode::uffd;
    }
    return o;
}

}  // namespace dtvm
