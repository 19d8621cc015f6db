// dtvm's exit codes, as `dtvm --help` lists them in its footer.
#pragma once

namespace dtvm {

constexpr int exit_ok = 0;
constexpr int exit_lost_pages = 1;        // a written page was not reported
constexpr int exit_bad_input = 2;         // the message names the cause and the fix
constexpr int exit_guest_failed = 3;      // KVM or the guest failed
constexpr int exit_migration_failed = 4;  // the migration did not complete; the VM runs on

}  // namespace dtvm
