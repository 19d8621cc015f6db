// --tls-creds, --tls-psk, --tls-psk-identity, --insecure: either end of a migration.
#include <string>

#include "dtrack/precopy/tcp.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_tls_options(CLI::App& app, TlsFlags& f) {
    app.add_option("--tls-creds", f.creds,
                   "TLS 1.3 with x509 credentials from DIR in QEMU's layout: ca-cert.pem on both ends, "
                   "server-cert.pem + server-key.pem for --incoming, client-cert.pem + client-key.pem for "
                   "--migrate-to; each end verifies the other against ca-cert.pem, the source also the address "
                   "it connects to")
        ->type_name("DIR");
    app.add_option("--tls-psk", f.psk,
                   "TLS 1.3 with a pre-shared key from FILE in QEMU's keys.psk format (IDENTITY:HEXKEY lines), the "
                   "same file on both ends")
        ->type_name("FILE");
    app.add_option("--tls-psk-identity", f.psk_identity, "--migrate-to: the identity whose key it uses")
        ->type_name("NAME")
        ->capture_default_str();
    app.add_flag("--insecure", f.insecure,
                 "--incoming: listen beyond loopback without TLS; whoever connects first may write guest memory "
                 "(a warning is printed)");
}

// --tls-creds, --tls-psk, --insecure: consistent, credentials loaded for
// this end's role, and --incoming off loopback only with TLS or --insecure.
dtrack::Result<TlsOptions> parse_tls(const TlsFlags& f, const MigrationFlags& migration,
                                     const IncomingFlags& incoming) {
    using namespace dtrack::precopy;
    const bool tls = !f.creds.empty() || !f.psk.empty();
    if (!f.creds.empty() && !f.psk.empty())
        return dtrack::Error{EINVAL, "--tls-creds and --tls-psk exclude each other", "choose x509 or a PSK"};
    if ((tls || f.insecure) && migration.to.empty() && incoming.from.empty())
        return dtrack::Error{EINVAL, "--tls-creds, --tls-psk and --insecure are for a migration",
                             "add --migrate-to or --incoming"};
    if (tls && f.insecure)
        return dtrack::Error{EINVAL, "--insecure and TLS credentials exclude each other",
                             "drop --insecure: with TLS any address is allowed"};
    TlsOptions o{.credentials = std::nullopt, .insecure = f.insecure};
    const TlsRole role = incoming.from.empty() ? TlsRole::client : TlsRole::server;
    if (!f.creds.empty()) {
        auto creds = TlsCredentials::load_x509(f.creds, role);
        if (!creds) return creds.error();
        o.credentials = creds.value();
    } else if (!f.psk.empty()) {
        auto creds = TlsCredentials::load_psk(f.psk, role, f.psk_identity);
        if (!creds) return creds.error();
        o.credentials = creds.value();
    }
    if (incoming.from.empty()) return o;
    auto address = parse_tcp_address(incoming.from);
    if (!address) return address.error();
    if (!is_loopback(*address) && !tls && !f.insecure)
        return dtrack::Error{EACCES,
                             "--incoming " + incoming.from +
                                 " without TLS: any host that connects first could write this guest's memory",
                             "give --tls-creds DIR or --tls-psk FILE (the same on the source), listen on "
                             "127.0.0.1, or add --insecure on a trusted network"};
    return o;
}

}  // namespace dtvm::option_groups
