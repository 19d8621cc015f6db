// The pure parsing behind --discover-kubevirt: a process's cgroup, its
// container's config.json and its command line, each untrusted, into a
// KubeVirt VM's target and labels (the scan that reads them is exercised by
// sidecar_kubevirt_test.cpp with real processes).
#include <gtest/gtest.h>

#include <string>

#include "sidecar/kubevirt/cgroup_pod.hpp"
#include "sidecar/kubevirt/kubevirt_vm.hpp"
#include "sidecar/kubevirt/oci_annotations.hpp"
#include "sidecar/kubevirt/qemu_domain_name.hpp"

using namespace dtrack::cli::sidecar;

namespace {

const std::string id(64, 'a');
const std::string uid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
const std::string uid_ = "0a1b2c3d_4e5f_6789_abcd_ef0123456789";

std::string cmdline(std::initializer_list<std::string> args) {
    std::string out;
    for (const std::string& a : args) out += a + '\0';
    return out;
}

TEST(KubevirtCgroup, TheSystemdDriversPathGivesThePodUidAndTheContainerdOrCrioContainer) {
    EXPECT_EQ(pod_container_of("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uid_ +
                               ".slice/cri-containerd-" + id + ".scope\n"),
              (PodContainer{uid, id, ContainerRuntime::containerd}));
    EXPECT_EQ(pod_container_of("0::/kubepods.slice/kubepods-pod" + uid_ + ".slice/crio-" + id + ".scope\n"),
              (PodContainer{uid, id, ContainerRuntime::crio}));
}

TEST(KubevirtCgroup, TheCgroupfsDriversPathGivesThePodAndContainerButNotTheRuntime) {
    EXPECT_EQ(pod_container_of("0::/kubepods/besteffort/pod" + uid + "/" + id + "\n"),
              (PodContainer{uid, id, ContainerRuntime::unknown}));
}

TEST(KubevirtCgroup, ReadFromInsideAPodAnotherPodsPathIsRelativeAndStillGivesItsPodAndContainer) {
    EXPECT_EQ(pod_container_of("0::/../../kubepods-besteffort-pod" + uid_ + ".slice/cri-containerd-" + id + ".scope\n"),
              (PodContainer{uid, id, ContainerRuntime::containerd}));
    EXPECT_EQ(pod_container_of("0::/../../pod" + uid + "/" + id + "\n"),
              (PodContainer{uid, id, ContainerRuntime::unknown}));
}

TEST(KubevirtCgroup, ACgroupBelowTheContainersKeepsTheKubeletsPairNotOneTheContainerMade) {
    const std::string other(64, 'b');
    EXPECT_EQ(pod_container_of("0::/kubepods/pod" + uid + "/" + id + "/pod" + uid + "/" + other + "\n"),
              (PodContainer{uid, id, ContainerRuntime::unknown}));
}

TEST(KubevirtCgroup, AnythingElseIsNotAPodsContainer) {
    EXPECT_FALSE(pod_container_of("0::/user.slice/user-0.slice/session-1.scope\n"));
    EXPECT_FALSE(pod_container_of("0::/system.slice/pod" + uid + "/" + id + "\n"));                // not kubepods
    EXPECT_FALSE(pod_container_of("0::/kubepods/pod" + uid + "/" + id.substr(1) + "\n"));          // 63 digits
    EXPECT_FALSE(pod_container_of("0::/kubepods/pod" + uid + "/../../" + id + "\n"));              // no pair
    EXPECT_FALSE(pod_container_of("0::/kubepods/podNOT-A-UID/" + id + "\n"));                      // no UID
    EXPECT_FALSE(pod_container_of("0::/kubepods/pod" + uid + "/" + std::string(64, 'A') + "\n"));  // upper case
    EXPECT_FALSE(pod_container_of(""));
}

TEST(KubevirtOciAnnotations, ContainerdsAndCriOsAnnotationsGiveThePodNamespaceAndContainer) {
    const PodAnnotations want{"virt-launcher-vm1-abcde", "tenant-a", "compute"};
    EXPECT_EQ(pod_annotations_of(R"({"ociVersion":"1.1.0","process":{"args":["x"]},"annotations":{
        "io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"compute",
        "io.kubernetes.cri.sandbox-name":"virt-launcher-vm1-abcde","io.kubernetes.cri.sandbox-namespace":"tenant-a"}})")
                  .value(),
              want);
    EXPECT_EQ(pod_annotations_of(R"({"annotations":{"io.kubernetes.container.name":"compute",
        "io.kubernetes.pod.name":"virt-launcher-vm1-abcde","io.kubernetes.pod.namespace":"tenant-a"}})")
                  .value(),
              want);
}

TEST(KubevirtOciAnnotations, OnlyTheTopLevelAnnotationsCount) {
    const auto nested = pod_annotations_of(R"({"linux":{"annotations":{"io.kubernetes.cri.container-name":"compute",
        "io.kubernetes.cri.sandbox-name":"p","io.kubernetes.cri.sandbox-namespace":"n"}}})");
    ASSERT_FALSE(nested);
    EXPECT_NE(nested.error().what.find("do not give the pod's name"), std::string::npos) << nested.error().what;
}

TEST(KubevirtOciAnnotations, NotJsonOrNestedPastTheLimitIsRefusedWithTheReason) {
    EXPECT_NE(pod_annotations_of("{\"annotations\":").error().what.find("not JSON"), std::string::npos);
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    const auto refused = pod_annotations_of(deep);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().what.find("nests deeper"), std::string::npos) << refused.error().what;
}

TEST(KubevirtQemuCmdline, LibvirtsNameOptionGivesTheDomainWithDoubledCommasUndone) {
    EXPECT_EQ(
        qemu_domain_name(cmdline({"/usr/libexec/qemu-kvm", "-name", "guest=tenant-a_vm1,debug-threads=on", "-S"})),
        "tenant-a_vm1");
    EXPECT_EQ(qemu_domain_name(cmdline({"qemu-kvm", "-name", "a,,b,debug-threads=on"})), "a,b");
    EXPECT_EQ(qemu_domain_name(cmdline({"qemu-kvm", "-m", "128"})), std::nullopt);
    EXPECT_EQ(qemu_domain_name(cmdline({"qemu-kvm", "-name"})), std::nullopt);
}

TEST(KubevirtQemuCmdline, KubevirtsDomainSplitsAtTheFirstUnderscore) {
    const auto split = split_kubevirt_domain("tenant-a_vm_1");
    ASSERT_TRUE(split);
    EXPECT_EQ(split->namespace_, "tenant-a");
    EXPECT_EQ(split->name, "vm_1");
    EXPECT_FALSE(split_kubevirt_domain("novm"));
    EXPECT_FALSE(split_kubevirt_domain("_vm"));
    EXPECT_FALSE(split_kubevirt_domain("ns_"));
}

TEST(KubevirtVm, AQemuInTheComputeContainerIsTargetNamespaceVmLabelledPodNamespaceAndVm) {
    const auto vm = kubevirt_vm({"virt-launcher-vm1-abcde", "tenant-a", "compute"},
                                cmdline({"qemu-kvm", "-name", "guest=tenant-a_vm1.web,debug-threads=on"}));
    ASSERT_TRUE(vm && *vm);
    EXPECT_EQ((*vm)->target, "tenant-a_vm1.web");
    EXPECT_EQ(
        (*vm)->labels.all(),
        (std::vector<TargetLabel>{{"pod", "virt-launcher-vm1-abcde"}, {"namespace", "tenant-a"}, {"vm", "vm1.web"}}));
}

TEST(KubevirtVm, AQemuInAnotherContainerIsNotKubevirtsAndNoError) {
    const auto vm = kubevirt_vm({"p", "n", "sidecar"}, cmdline({"qemu-kvm", "-name", "guest=n_vm"}));
    ASSERT_TRUE(vm);
    EXPECT_FALSE(*vm);
}

TEST(KubevirtVm, APodCannotClaimAnotherNamespacesVmNorPutLabelSyntaxInANameOrRunLong) {
    const auto claim = [](std::string pod, std::string ns, std::string domain) {
        const auto vm = kubevirt_vm({pod, ns, "compute"}, cmdline({"qemu-kvm", "-name", "guest=" + domain}));
        return vm ? std::string("accepted") : vm.error().what;
    };
    EXPECT_NE(claim("p", "tenant-a", "tenant-b_vm1").find("but the pod is in tenant-a"), std::string::npos);
    EXPECT_NE(claim("p", "n", "n_vm\",evil=\"1").find("is not a Kubernetes name"), std::string::npos);
    EXPECT_NE(claim("p", "n", "n_VM").find("is not a Kubernetes name"), std::string::npos);
    EXPECT_NE(claim("p", "n", "n_" + std::string(300, 'a')).find("is not a Kubernetes name"), std::string::npos);
    EXPECT_NE(claim("p\n", "n", "n_vm").find("pod name 'p?'"), std::string::npos);
    EXPECT_NE(claim("p", "n.dot", "n.dot_vm").find("namespace"), std::string::npos);
    EXPECT_NE(claim("p", "n", "novm").find("not NAMESPACE_VMNAME"), std::string::npos);
    // A message quotes at most 64 characters of what it refuses.
    EXPECT_LT(claim(std::string(10000, 'x') + "!", "n", "n_vm").size(), 300u);
}

TEST(KubevirtVm, KubernetesNamesAreDns1123) {
    EXPECT_TRUE(kubernetes_name("virt-launcher-vm1-abcde"));
    EXPECT_TRUE(kubernetes_name("a.b-c"));
    EXPECT_FALSE(kubernetes_name("a.b", 63, true));
    EXPECT_FALSE(kubernetes_name("-a"));
    EXPECT_FALSE(kubernetes_name("a-"));
    EXPECT_FALSE(kubernetes_name(""));
    EXPECT_FALSE(kubernetes_name(std::string(254, 'a')));
    EXPECT_FALSE(kubernetes_name("a b"));
}

}  // namespace
