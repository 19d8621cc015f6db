// Who a QEMU process is, from its command line (qemu_identity.hpp): libvirt's
// -name guest=NAME,... and -uuid, QEMU's own option syntax, and what is not
// QEMU's.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sidecar/targets/qemu_identity.hpp"

using namespace dtrack::cli::sidecar;

namespace {

std::string cmdline(const std::vector<std::string>& args) {
    std::string out;
    for (const std::string& a : args) out += a + '\0';
    return out;
}

std::vector<TargetLabel> labels_of(const std::vector<std::string>& args) {
    return qemu_identity_labels(cmdline(args)).all();
}

TEST(QemuIdentity, LibvirtsCommandLineGivesTheDomainNameAndUuid) {
    EXPECT_EQ(labels_of({"/usr/bin/qemu-system-x86_64", "-name", "guest=web-1,debug-threads=on", "-S", "-uuid",
                         "3265B2BF-3eb7-4791-ad65-ae1a5bfa4406", "-m", "128"}),
              (std::vector<TargetLabel>{{"domain", "web-1"}, {"uuid", "3265b2bf-3eb7-4791-ad65-ae1a5bfa4406"}}));
}

TEST(QemuIdentity, ReadsQemusOptionSyntaxDoubledCommasAndTheImpliedGuestKey) {
    EXPECT_EQ(labels_of({"qemu-kvm", "-name", "a,,b,process=x"}), (std::vector<TargetLabel>{{"domain", "a,b"}}));
    EXPECT_EQ(labels_of({"qemu-kvm", "--name=debug-threads=on,guest=c"}), (std::vector<TargetLabel>{{"domain", "c"}}));
    EXPECT_EQ(labels_of({"qemu-kvm", "-name", "process=p"}), std::vector<TargetLabel>{});
    // As QEMU, the last -name counts.
    EXPECT_EQ(labels_of({"qemu-kvm", "-name", "first", "-name", "guest=second"}),
              (std::vector<TargetLabel>{{"domain", "second"}}));
}

TEST(QemuIdentity, GivesNothingForAnotherProgramAMalformedUuidOrAMissingValue) {
    EXPECT_EQ(labels_of({"/usr/bin/ssh", "-name", "guest=x", "-uuid", "3265b2bf-3eb7-4791-ad65-ae1a5bfa4406"}),
              std::vector<TargetLabel>{});
    EXPECT_EQ(labels_of({"qemu-system-x86_64", "-uuid", "3265b2bf-3eb7-4791-ad65-ae1a5bfa440"}),
              std::vector<TargetLabel>{});
    EXPECT_EQ(labels_of({"qemu-system-x86_64", "-uuid", "3265b2bf-3eb7-4791-ad65+ae1a5bfa4406"}),
              std::vector<TargetLabel>{});
    EXPECT_EQ(labels_of({"qemu-system-x86_64", "-name"}), std::vector<TargetLabel>{});
    EXPECT_EQ(qemu_identity_labels(std::string_view()).all(), std::vector<TargetLabel>{});
}

}  // namespace
