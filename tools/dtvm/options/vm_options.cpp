// --mem, --vcpus, --readers, --reader-cpus, --slots, --emulated.
#include <string>

#include "dtrack/units.hpp"
#include "dtvm/options/option_groups.hpp"
#include "dtvm/vm/reader_cpus.hpp"

namespace dtvm::option_groups {

void add_vm_options(CLI::App& app, VmFlags& f) {
    app.add_option("--mem", f.mem, "guest memory (e.g. 256M)")->capture_default_str();
    app.add_option("--vcpus", f.vcpus, "vCPUs (1-255)")->capture_default_str();
    app.add_option("--readers", f.readers,
                   "reader vCPUs after the --vcpus writers: each reads the whole working set as fast as it runs "
                   "(no --rate), writes none of it, and is throttled like the writers; with --vcpus at most 255")
        ->capture_default_str();
    app.add_option("--reader-cpus", f.reader_cpus,
                   "host CPUs for the readers alone (as taskset -c: 1, 2-3), every other thread of dtvm on the "
                   "CPUs left: the readers' progress then measures the guest, not the scheduler");
    app.add_option("--slots", f.slots, "memslots to split the memory into; the last is not a multiple of 64 pages")
        ->capture_default_str();
}

void add_emulated_option(CLI::App& app, VmFlags& f) {
    app.add_flag("--emulated", f.emulated, "run the guest under KVM's instruction emulator (slow; provokes ring jams)");
}

dtrack::Result<VmOptions> parse_vm(const VmFlags& f) {
    auto mem = dtrack::parse_size(f.mem, "--mem");
    if (!mem) return mem.error();
    if (f.vcpus < 1 || f.vcpus > 255)
        return dtrack::Error{EINVAL, "--vcpus " + std::to_string(f.vcpus) + " is out of range", "use 1 to 255"};
    if (f.readers < 0 || f.vcpus + f.readers > 255) {
        const std::string room = "0 to " + std::to_string(255 - f.vcpus);
        return dtrack::Error{EINVAL,
                             "--readers " + std::to_string(f.readers) + " is out of range: next to --vcpus " +
                                 std::to_string(f.vcpus) + " there is room for " + room + " readers (255 vCPUs in all)",
                             "use --readers " + room + ", or fewer --vcpus"};
    }
    if (f.slots < 1 || f.slots > 32)
        return dtrack::Error{EINVAL, "--slots " + std::to_string(f.slots) + " is out of range", "use 1 to 32"};
    VmOptions vm;
    vm.mem_bytes = *mem;
    vm.vcpus = f.vcpus;
    vm.readers = uint32_t(f.readers);
    vm.slots = f.slots;
    vm.emulated = f.emulated;
    if (!f.reader_cpus.empty()) {
        if (f.readers == 0)
            return dtrack::Error{EINVAL, "--reader-cpus places reader vCPUs, and this guest has none",
                                 "add --readers N, or leave --reader-cpus out"};
        auto cpus = parse_cpu_list(f.reader_cpus, "--reader-cpus");
        if (!cpus) return cpus.error();
        if (auto plan = plan_reader_cpus(*cpus); !plan) return plan.error();
        vm.reader_cpus = std::move(*cpus);
    }
    if (dtrack::Status s = check_vm_options(vm); !s) return s.error();
    return vm;
}

}  // namespace dtvm::option_groups
