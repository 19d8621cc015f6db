#include "support/libvirt_domain.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "dtvm/vm/vm.hpp"
#include "support/qemu_vm.hpp"
#include "support/run_command.hpp"

namespace dtrack_test {

namespace {

// KVM where /dev/kvm works, except on a PVM host: there the guest's 32-bit
// protected mode runs in KVM's instruction emulator (tests/support/qemu_vm.hpp,
// QemuImage::emulated), seconds a pass over its pages, so it would not
// rewrite all of them every interval. TCG runs it the same on every machine
// (as SidecarQemu's QemuGuest does).
std::string domain_type() { return QemuVm::kvm_unavailable_reason().empty() && !dtvm::host_is_pvm() ? "kvm" : "qemu"; }

std::string domain_xml(const std::string& name, const std::string& type, const std::string& image) {
    // 128 MiB, one vCPU, the boot floppy and nothing else (no NIC, no
    // balloon): QEMU's own writes stay small beside the guest's.
    return "<domain type='" + type + "'>\n  <name>" + name +
           "</name>\n  <memory unit='MiB'>128</memory>\n  <vcpu>1</vcpu>\n"
           "  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>\n"
           "  <devices>\n"
           "    <disk type='file' device='floppy'><driver name='qemu' type='raw'/><source file='" +
           image +
           "'/><target dev='fda' bus='fdc'/><readonly/></disk>\n"
           "    <memballoon model='none'/>\n  </devices>\n</domain>\n";
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

// "  key=value" of virsh domstats' output.
std::string stat_value(const std::string& stats, const std::string& key) {
    const size_t at = stats.find(key + "=");
    if (at == std::string::npos) return "";
    const size_t begin = at + key.size() + 1;
    return stats.substr(begin, stats.find('\n', begin) - begin);
}

}  // namespace

LibvirtDomain::LibvirtDomain(const LibvirtDaemon&, std::string name) : name_(std::move(name)), type_(domain_type()) {
    char dir[] = "/tmp/dtrack-libvirt-domain-XXXXXX";
    if (!::mkdtemp(dir)) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
    dir_ = dir;
    // QEMU runs as libvirt-qemu: its image where that user may read it.
    ::chmod(dir_.c_str(), 0755);
    const std::string image = dir_ + "/dirtying_guest.img";
    std::filesystem::copy_file(binary("tests/qemu/dirtying_guest.img"), image);
    ::chmod(image.c_str(), 0644);
    std::ofstream(dir_ + "/domain.xml") << domain_xml(name_, type_, image);
    const CommandResult created = run(virsh_command("create " + dir_ + "/domain.xml"));
    if (created.exit_code != 0) {
        std::filesystem::remove_all(dir_);
        throw std::runtime_error("virsh create " + name_ + " failed: " + created.output);
    }
    running_ = true;
    uuid_ = trimmed(run(virsh_command("domuuid " + name_)).output);
    std::ifstream pid_file(std::string(LibvirtDaemon::kPidDir) + "/" + name_ + ".pid");
    pid_file >> pid_;
    // SeaBIOS and the boot sector take a few hundred milliseconds under TCG.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
}

LibvirtDomain::~LibvirtDomain() {
    destroy();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void LibvirtDomain::destroy() {
    if (!running_) return;
    run(virsh_command("destroy " + name_) + " >/dev/null");
    running_ = false;
}

LibvirtDirtyRate LibvirtDomain::dirty_rate(int seconds, const std::string& mode) {
    LibvirtDirtyRate r;
    run(virsh_command("domdirtyrate-calc " + name_ + " --seconds " + std::to_string(seconds) + " --mode " + mode));
    // calc_status: 0 unstarted, 1 measuring, 2 measured.
    for (int tries = 0; tries < 10 * (seconds + 5); ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        r.stats = run(virsh_command("domstats --dirtyrate " + name_)).output;
        if (stat_value(r.stats, "dirtyrate.calc_status") == "2") break;
    }
    r.mode = stat_value(r.stats, "dirtyrate.calc_mode");
    const std::string period = stat_value(r.stats, "dirtyrate.calc_period");
    const std::string rate = stat_value(r.stats, "dirtyrate.megabytes_per_second");
    if (!period.empty()) r.period_s = std::stoi(period);
    if (!rate.empty()) r.mib_per_second = std::stod(rate);
    return r;
}

}  // namespace dtrack_test
