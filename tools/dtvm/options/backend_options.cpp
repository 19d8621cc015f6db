// --backend, --print-backend.
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_backend_options(CLI::App& app, BackendFlags& f) {
    app.add_option("--backend", f.name,
                   "kvm (a real KVM guest) | process (worker threads over userfaultfd-tracked memory, no KVM "
                   "needed) | auto (kvm where /dev/kvm works)")
        ->capture_default_str();
    app.add_flag("--print-backend", f.print,
                 "print the backend --backend would use here and why (\"process: ...\"), then exit");
}

dtrack::Status check_backend_name(const BackendFlags& f) {
    if (f.name != "auto" && f.name != "kvm" && f.name != "process")
        return dtrack::Error{EINVAL, "unknown backend '" + f.name + "'", "use --backend kvm, process or auto"};
    return dtrack::Ok{};
}

}  // namespace dtvm::option_groups
