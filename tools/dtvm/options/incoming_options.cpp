// --incoming, with the migration's --max-time.
#include "dtrack/units.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_incoming_options(CLI::App& app, IncomingFlags& f) {
    app.add_option("--incoming", f.from,
                   "receive a migration on tcp://HOST:PORT (port 0: any free port); without TLS only on loopback "
                   "(127.0.0.0/8) unless --insecure. One sender; it is cut off when silent for 20 s, slower than "
                   "64 KiB/s over 10 s, or past --max-time")
        ->type_name("URI");
}

dtrack::Result<std::optional<IncomingOptions>> parse_incoming(const IncomingFlags& f, const MigrationFlags& migration) {
    if (f.from.empty()) return std::optional<IncomingOptions>();
    auto max_time = dtrack::parse_duration(migration.max_time);
    if (!max_time) return max_time.error();
    return std::optional(IncomingOptions{.from = f.from, .max_time = *max_time});
}

}  // namespace dtvm::option_groups
