// dtvm: the reference VMM. Runs a real KVM guest that writes stamped pages
// and tracks it with libdtrack. Three ways to run:
//   dtvm ...                      check every interval that no written page was missed
//   dtvm ... --migrate-to URI     migrate the running guest's memory (precopy)
//   dtvm ... --incoming URI       receive a migration and check its digest
#include <variant>

#include "dtvm/modes/check_loop.hpp"
#include "dtvm/modes/migrate.hpp"
#include "dtvm/options/options.hpp"

int main(int argc, char** argv) {
    auto parsed = dtvm::parse_command_line(argc, argv);
    if (auto* code = std::get_if<int>(&parsed)) return *code;
    const dtvm::Options& options = std::get<dtvm::Options>(parsed);
    if (options.incoming) return dtvm::run_incoming(options);
    if (options.migrate) return dtvm::run_migration_source(options);
    return dtvm::run_check_loop(options);
}
