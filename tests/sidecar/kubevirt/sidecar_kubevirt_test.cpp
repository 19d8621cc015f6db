// dtrack sidecar --discover-kubevirt on this node, with real processes: a
// real QEMU (TCG, tests/qemu/dirtying_guest.S: 8192 pages rewritten over and
// over) started with KubeVirt's command line (comm qemu-kvm, -name
// guest=NAMESPACE_VMNAME), moved into a real cgroup-v2 directory shaped as
// the kubelet and containerd make them (kubepods…/…pod<UID>.slice/
// cri-containerd-<ID>.scope, created where cgroup2 is mounted and removed
// after), and measured for real. What is modelled is the container
// runtime's state: a config.json with containerd's annotations, in a runtime
// directory the test owns (--containerd-root).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/qemu_guest.hpp"
#include "support/sidecar_process.hpp"

namespace fs = std::filesystem;
using dtrack_test::kQemuGuestDirtyPages;
using dtrack_test::QemuGuest;
using dtrack_test::ScrapeResult;
using dtrack_test::SidecarProcess;

namespace {

// Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
// /sys/fs/cgroup/unified on a hybrid host); "" when it is not.
std::string cgroup2_root() {
    std::ifstream mounts("/proc/self/mounts");
    for (std::string device, dir, type, rest; mounts >> device >> dir >> type && std::getline(mounts, rest);)
        if (type == "cgroup2") return dir;
    return "";
}

std::string unavailable_reason() {
    if (::geteuid() != 0) return "creating cgroups needs root";
    if (cgroup2_root().empty()) return "no cgroup v2 hierarchy is mounted";
    return QemuGuest::unavailable_reason();
}

#define REQUIRE_KUBEPODS_AND_QEMU()                   \
    do {                                              \
        const std::string why = unavailable_reason(); \
        if (!why.empty()) GTEST_SKIP() << why;        \
    } while (0)

// A pod's container cgroup as the kubelet (systemd driver) and containerd
// name it, under a kubepods slice of this test's own; removed with it.
class KubepodsContainer {
public:
    KubepodsContainer(const std::string& slice, int n) {
        char uid[40], id[65];
        std::snprintf(uid, sizeof uid, "%08x-0000-4000-8000-%012x", unsigned(::getpid()), unsigned(n));
        std::snprintf(id, sizeof id, "%056x%08x", unsigned(::getpid()), unsigned(n));
        pod_uid_ = uid;
        id_ = id;
        std::string underscored = uid;
        for (char& c : underscored) c = c == '-' ? '_' : c;
        dirs_ = {slice, slice + "/kubepods-besteffort-pod" + underscored + ".slice"};
        dirs_.push_back(dirs_.back() + "/cri-containerd-" + id_ + ".scope");
        for (const std::string& d : dirs_) ::mkdir(d.c_str(), 0755);
    }
    ~KubepodsContainer() {
        // What is left are the test's own processes' children (a fake's
        // sleep): a cgroup with processes cannot be removed.
        for (int tries = 0; tries < 100; ++tries) {
            std::ifstream procs(dirs_.back() + "/cgroup.procs");
            pid_t pid = 0;
            bool any = false;
            while (procs >> pid) any = ::kill(pid, SIGKILL) == 0 || any;
            if (!any) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        for (auto d = dirs_.rbegin(); d != dirs_.rend(); ++d) ::rmdir(d->c_str());  // the slice goes with the last
    }
    void add(pid_t pid) const { std::ofstream(dirs_.back() + "/cgroup.procs") << pid << std::flush; }
    const std::string& id() const { return id_; }

private:
    std::string pod_uid_, id_;
    std::vector<std::string> dirs_;
};

// The runtime's state: ROOT/ID/config.json, as containerd writes it.
class RuntimeRoot {
public:
    RuntimeRoot() {
        char path[] = "/tmp/dtrack-kubevirt-XXXXXX";
        dir_ = ::mkdtemp(path);
        fs::create_directories(dir_ + "/qemu/bin");
        fs::create_directories(dir_ + "/sh/bin");
        fs::create_symlink(qemu_path(), qemu_kvm());
        fs::create_symlink("/bin/sh", sh_as_qemu_kvm());
    }
    ~RuntimeRoot() { fs::remove_all(dir_); }
    void write(const std::string& id, const std::string& config_json) const {
        fs::create_directories(dir_ + "/" + id);
        std::ofstream(dir_ + "/" + id + "/config.json") << config_json;
    }
    static std::string containerd_config(const std::string& pod, const std::string& ns) {
        return R"({"ociVersion":"1.1.0","process":{"args":["/usr/bin/virt-launcher-monitor"]},"annotations":{)"
               R"("io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"compute",)"
               R"("io.kubernetes.cri.sandbox-name":")" +
               pod + R"(","io.kubernetes.cri.sandbox-namespace":")" + ns + R"("}})";
    }
    const std::string& dir() const { return dir_; }
    // comm "qemu-kvm", as in KubeVirt's image: QEMU, and a shell for fakes.
    std::string qemu_kvm() const { return dir_ + "/qemu/bin/qemu-kvm"; }
    std::string sh_as_qemu_kvm() const { return dir_ + "/sh/bin/qemu-kvm"; }

private:
    static std::string qemu_path() {
        for (const char* d : {"/usr/bin/", "/usr/local/bin/"})
            if (fs::exists(std::string(d) + "qemu-system-x86_64")) return std::string(d) + "qemu-system-x86_64";
        return "qemu-system-x86_64";
    }
    std::string dir_;
};

std::string slice_name() { return cgroup2_root() + "/kubepods-dtracktest" + std::to_string(::getpid()) + ".slice"; }

std::string sidecar_args(const RuntimeRoot& runtime) {
    return "--discover-kubevirt --containerd-root " + runtime.dir() + " --crio-root " + runtime.dir() +
           "/no-crio --method sample --interval 500ms";
}

TEST(SidecarKubevirt, FindsKubevirtsQemuInAPodLabelsItPodNamespaceVmMeasuresItAndDropsItWhenItExits) {
    REQUIRE_KUBEPODS_AND_QEMU();
    const RuntimeRoot runtime;
    const KubepodsContainer compute(slice_name(), 1);
    runtime.write(compute.id(), RuntimeRoot::containerd_config("virt-launcher-vm1-x7k2p", "tenant-a"));
    auto qemu = std::make_unique<QemuGuest>(std::vector<std::string>{"-name", "guest=tenant-a_vm1,debug-threads=on"},
                                            runtime.qemu_kvm());
    compute.add(qemu->pid());

    SidecarProcess sidecar(sidecar_args(runtime));
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const std::vector<std::pair<std::string, std::string>> t{{"target", "tenant-a_vm1"}};
    const ScrapeResult a = sidecar.scrape_after_harvests("tenant-a_vm1", 1, std::chrono::seconds(15));
    const ScrapeResult b = sidecar.scrape_after_harvests(
        "tenant-a_vm1", a.value("dtrack_harvests_total", t).value_or(0) + 3, std::chrono::seconds(15));
    ASSERT_EQ(b.status, 200) << sidecar.log();
    EXPECT_TRUE(b.has("dtrack_target_info", {{"target", "tenant-a_vm1"},
                                             {"comm", "qemu-kvm"},
                                             {"pod", "virt-launcher-vm1-x7k2p"},
                                             {"namespace", "tenant-a"},
                                             {"vm", "vm1"}}))
        << b.body << sidecar.log();
    const double intervals =
        b.value("dtrack_harvests_total", t).value_or(0) - a.value("dtrack_harvests_total", t).value_or(0);
    const double pages =
        b.value("dtrack_dirty_pages_total", t).value_or(0) - a.value("dtrack_dirty_pages_total", t).value_or(0);
    ASSERT_GE(intervals, 3) << b.body;
    // The guest's 8192 pages each interval; the bounds are SidecarQemu's,
    // loosened: only that it is this QEMU that is measured is at stake here.
    EXPECT_GT(pages / intervals, 0.8 * kQemuGuestDirtyPages) << b.body;
    EXPECT_LT(pages / intervals, 1.3 * kQemuGuestDirtyPages) << b.body;

    const pid_t pid = qemu->pid();
    qemu.reset();  // SIGKILL, reaped
    ASSERT_TRUE(sidecar.wait_for_log("target tenant-a_vm1 (pid " + std::to_string(pid) + ", qemu-kvm) exited; dropped"))
        << sidecar.log();
    EXPECT_FALSE(sidecar.get().has("dtrack_target_info", t));
    EXPECT_EQ(sidecar.stop(SIGTERM), 0);
}

// A process of the pod's own making: /bin/sh under the name qemu-kvm (its
// comm), with whatever it likes in its command line (a pod's processes
// control theirs), in a container cgroup of its own.
class FakeQemu {
public:
    FakeQemu(const RuntimeRoot& runtime, std::vector<std::string> args) {
        args.insert(args.begin(), {runtime.sh_as_qemu_kvm(), "-c", "while :; do sleep 1; done"});
        std::vector<char*> argv;
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ == 0) {
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
    }
    ~FakeQemu() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    pid_t pid() const { return pid_; }

private:
    pid_t pid_ = -1;
};

TEST(SidecarKubevirt, HostileCommandLinesAndConfigFilesAreRefusedWithTheReasonAndTheSidecarServesOn) {
    REQUIRE_KUBEPODS_AND_QEMU();
    const RuntimeRoot runtime;
    const std::string slice = slice_name();
    const KubepodsContainer inject(slice, 1), oversized(slice, 2), deep(slice, 3), other_ns(slice, 4);
    // Label syntax in the VM name, in a command line of 1 MiB (64 arguments
    // of 16 KiB: the kernel allows 128 KiB per argument).
    std::vector<std::string> huge{"-name", "guest=tenant-a_vm\"} evil{x=\"1"};
    for (int i = 0; i < 64; ++i) huge.push_back(std::string(16 * 1024, 'x'));
    runtime.write(inject.id(), RuntimeRoot::containerd_config("virt-launcher-a", "tenant-a"));
    runtime.write(oversized.id(),
                  RuntimeRoot::containerd_config("virt-launcher-b", "tenant-a") + std::string(2 * 1024 * 1024, ' '));
    runtime.write(deep.id(), "{\"annotations\":" + std::string(100000, '[') + std::string(100000, ']') + "}");
    runtime.write(other_ns.id(), RuntimeRoot::containerd_config("virt-launcher-d", "tenant-b"));
    const FakeQemu a(runtime, huge), b(runtime, {"-name", "guest=tenant-a_vm2"}),
        c(runtime, {"-name", "guest=tenant-a_vm3"}), d(runtime, {"-name", "guest=tenant-a_vm4"});
    inject.add(a.pid());
    oversized.add(b.pid());
    deep.add(c.pid());
    other_ns.add(d.pid());

    SidecarProcess sidecar(sidecar_args(runtime));
    ASSERT_GT(sidecar.port(), 0) << sidecar.log();
    const auto skipped = [&](const FakeQemu& p, const std::string& why) {
        return sidecar.wait_for_log("skipping pid " + std::to_string(p.pid()) + ": ", std::chrono::seconds(10)) &&
               sidecar.log().find(why) != std::string::npos;
    };
    EXPECT_TRUE(skipped(a, "its VM name 'vm\"} evil{x=\"1' is not a Kubernetes name")) << sidecar.log();
    EXPECT_TRUE(skipped(b, "over the limit of 1048576")) << sidecar.log();
    EXPECT_TRUE(skipped(c, "nests deeper than 32 levels")) << sidecar.log();
    EXPECT_TRUE(skipped(d, "names namespace 'tenant-a', but the pod is in tenant-b")) << sidecar.log();
    const ScrapeResult scrape = sidecar.get();
    ASSERT_EQ(scrape.status, 200) << sidecar.log();
    EXPECT_FALSE(scrape.has("dtrack_target_info")) << scrape.body;
    EXPECT_EQ(scrape.value("dtrack_targets", {{"state", "attached"}}), 0) << scrape.body;
    EXPECT_EQ(sidecar.stop(SIGTERM), 0);
}

}  // namespace
