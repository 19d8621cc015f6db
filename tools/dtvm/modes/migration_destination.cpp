// dtvm --incoming: receive a migration into a VM of the same memory layout.
#include <chrono>
#include <cinttypes>
#include <cstdio>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/tcp.hpp"
#include "dtrack/units.hpp"
#include "dtvm/modes/migrate.hpp"
#include "dtvm/options/options.hpp"
#include "dtvm/tracking/vm_precopy.hpp"

namespace dtvm {

using namespace std::chrono_literals;

int run_incoming(const Options& o) {
    const IncomingOptions& in = *o.incoming;
    const std::optional<dtrack::precopy::TlsCredentials>& tls = o.tls.credentials;
    auto address = dtrack::precopy::parse_tcp_address(in.from);
    if (!address) {
        std::fprintf(stderr, "dtvm: %s\n", address.error().message().c_str());
        return exit_bad_input;
    }
    // Same memory layout as the source: a VM with the same slots, no vCPUs
    // running. The wire carries memory, not CPU state, so either backend can
    // receive from either.
    if (!o.backend_why.empty()) std::printf("%s\n", backend_line(o).c_str());
    auto vm = Vm::create(o.vm);
    if (!vm) {
        std::fprintf(stderr, "dtvm: %s\n", vm.error().message().c_str());
        return exit_bad_input;
    }
    auto listener = dtrack::precopy::TcpListener::listen(*address, tls || o.tls.insecure);
    if (!listener) {
        std::fprintf(stderr, "dtvm: %s\n", listener.error().message().c_str());
        return exit_bad_input;
    }
    if (!tls && !dtrack::precopy::is_loopback(*address))
        std::fprintf(stderr,
                     "dtvm: warning: --insecure: listening on %s without TLS; whoever connects first can "
                     "write this guest's memory\n",
                     address->host.c_str());
    std::printf("dtvm: listening on %s:%u for a migration of %s in %u slots, TLS %s\n", address->host.c_str(),
                listener->port(), dtrack::format_bytes(double(o.vm.mem_bytes)).c_str(), o.vm.slots,
                tls ? tls->description().c_str() : "off");
    std::fflush(stdout);
    auto connection = listener->accept(120s);
    if (!connection) {
        std::fprintf(stderr, "dtvm: %s\n", connection.error().message().c_str());
        return exit_migration_failed;
    }
    dtrack::precopy::Receiver receiver(guest_memory(*vm.value()), {.max_time = in.max_time, .tls = tls});
    const auto start = std::chrono::steady_clock::now();
    auto report = receiver.run(connection.value().get());
    if (!report) {
        std::fprintf(stderr, "dtvm: migration refused: %s\n", report.error().message().c_str());
        return exit_migration_failed;
    }
    std::printf("received: %" PRIu64 " rounds, %" PRIu64 " pages (%" PRIu64
                " zero), %s in %.2f s; memory digest "
                "%016" PRIx64 " matches the source's\n",
                report->rounds, report->pages, report->zero_pages, dtrack::format_bytes(double(report->bytes)).c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), report->digest);
    return exit_ok;
}

}  // namespace dtvm
