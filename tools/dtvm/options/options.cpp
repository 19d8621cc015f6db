#include "dtvm/options/options.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

#include "dtrack/version.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm {

namespace {

using namespace option_groups;

int bad_input(const dtrack::Error& e) {
    std::fprintf(stderr, "dtvm: %s\n", e.message().c_str());
    return exit_bad_input;
}

// Every group's options as typed.
struct Flags {
    VmFlags vm;
    WorkloadFlags workload;
    BackendFlags backend;
    TrackingFlags tracking;
    CheckLoopFlags check;
    MigrationFlags migration;
    DirtyLimitFlags dirty_limit;
    IncomingFlags incoming;
    TlsFlags tls;
};

// The order here is the order of `dtvm --help`.
void add_options(CLI::App& app, Flags& f) {
    app.set_version_flag("--version", std::string("dtvm ") + dtrack::version());
    app.footer(
        "Exit codes: 0 every written page was reported (or the migration completed), 1 a written page was not "
        "reported, 2 bad input or a missing kernel feature (the message names the cause and the fix), 3 the "
        "guest or KVM failed, 4 the migration did not complete (the guest runs on).");
    add_vm_options(app, f.vm);
    add_workload_options(app, f.workload);
    add_backend_options(app, f.backend);
    add_tracking_options(app, f.tracking);
    add_check_loop_options(app, f.check);
    add_emulated_option(app, f.vm);
    // Migration, source side.
    add_migration_options(app, f.migration);
    add_dirty_limit_options(app, f.dirty_limit);
    add_migration_start_options(app, f.migration);
    // Migration, destination side.
    add_incoming_options(app, f.incoming);
    // Migration security, both ends.
    add_tls_options(app, f.tls);
}

// Every group that needs no look at the machine, checked in this order.
dtrack::Status parse_groups(const Flags& f, Options& o) {
    const bool incoming = !f.incoming.from.empty();
    auto vm = parse_vm(f.vm);
    if (!vm) return vm.error();
    o.vm = *vm;
    auto workload = parse_workload(f.workload, o.vm, incoming);
    if (!workload) return workload.error();
    o.workload = *workload;
    if (dtrack::Status s = check_backend_name(f.backend); !s) return s;
    if (dtrack::Status s = check_tracking_flags(f.tracking); !s) return s;
    auto check = parse_check_loop(f.check);
    if (!check) return check.error();
    o.check = *check;
    auto incoming_options = parse_incoming(f.incoming, f.migration);
    if (!incoming_options) return incoming_options.error();
    o.incoming = *incoming_options;
    if (!f.migration.to.empty() && incoming)
        return dtrack::Error{EINVAL, "--migrate-to and --incoming exclude each other",
                             "run one dtvm with --incoming and another with --migrate-to"};
    auto migrate = parse_migration(f.migration, o.check, o.vm.mem_bytes);
    if (!migrate) return migrate.error();
    o.migrate = *migrate;
    auto dirty_limit = parse_dirty_limit(f.dirty_limit, f.migration, incoming, o.check);
    if (!dirty_limit) return dirty_limit.error();
    o.dirty_limit = *dirty_limit;
    if (!o.check.record.empty() && (o.migrate || incoming))
        return dtrack::Error{EINVAL, "--record records the check loop's intervals, not a migration",
                             "leave out --record, or --migrate-to / --incoming"};
    auto tls = parse_tls(f.tls, f.migration, f.incoming);
    if (!tls) return tls.error();
    o.tls = *tls;
    return dtrack::Ok{};
}

// --backend, with --track ring, log or uffd deciding what auto means.
std::string backend_to_choose(const Flags& f) {
    const std::string& track = f.tracking.mode;
    if (f.backend.name == "auto" && (track == "ring" || track == "log")) return "kvm";  // they need KVM
    if (f.backend.name == "auto" && track == "uffd") return "process";
    return f.backend.name;
}

}  // namespace

std::string backend_line(const Options& o) {
    if (o.backend_why.empty()) return "";
    return "dtvm: backend " + backend_name(o.vm.backend) + ": " + o.backend_why;
}

std::variant<Options, int> parse_command_line(int argc, char** argv) {
    CLI::App app{
        "dtvm: a small VMM whose guest writes stamped pages; tracks them with libdtrack, checks that "
        "no written page is missed, and migrates its memory over TCP. Runs a real KVM guest, or the same "
        "workload on worker threads over userfaultfd-tracked memory where there is no KVM (--backend)."};
    Flags f;
    add_options(app, f);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? exit_ok : exit_bad_input;
    }
    Options o;
    if (dtrack::Status s = parse_groups(f, o); !s) return bad_input(s.error());

    // Every option is checked; only now look at the machine (auto opens /dev/kvm).
    auto choice = choose_backend(backend_to_choose(f));
    if (!choice) return bad_input(choice.error());
    o.vm.backend = choice->backend;
    o.backend_why = choice->why;
    if (f.backend.print) {
        std::printf("%s: %s\n", backend_name(choice->backend).c_str(),
                    choice->why.empty() ? "asked for with --backend" : choice->why.c_str());
        return exit_ok;
    }
    auto tracking = parse_tracking(f.tracking, o.vm.backend);
    if (!tracking) return bad_input(tracking.error());
    o.tracking = *tracking;
    if (o.dirty_limit)
        if (dtrack::Status s = apply_dirty_limit_sleep(f.dirty_limit, o.vm, o.tracking); !s)
            return bad_input(s.error());
    return o;
}

}  // namespace dtvm
