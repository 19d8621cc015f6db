// Whom a pid file may point the sidecar at (pid_file_trust.cpp), on plain
// facts: libvirt's rule, the hostile writer's files, and the messages that
// say which file, which owner and what to do.
#include <gtest/gtest.h>

#include "sidecar/pid_files/pid_file_trust.hpp"

using namespace dtrack::cli::sidecar;

namespace {

constexpr uid_t root = 0, nobody = 65534, alice = 1000;

// Root's pid file in root's directory that only root may write.
PidFileFacts libvirt_file() {
    return {.path = "/run/libvirt/qemu/vm1.pid",
            .file_owner = root,
            .file_mode = 0100644,
            .file_links = 1,
            .dir_owner = root,
            .dir_mode = 040755,
            .sidecar_user = root,
            .pid = 4242,
            .pid_owner = 64055};  // libvirt-qemu
}

std::string refusal(const PidFileFacts& f) {
    const dtrack::Status s = judge_pid_file(f);
    return s ? "trusted" : s.error().message();
}

TEST(PidFileTrust, RootsFileInADirectoryOnlyRootMayWriteMayNameAnotherUsersProcess) {
    EXPECT_EQ(refusal(libvirt_file()), "trusted");
    PidFileFacts private_file = libvirt_file();
    private_file.file_mode = 0100600;
    EXPECT_EQ(refusal(private_file), "trusted");
}

TEST(PidFileTrust, AFileOthersMayWriteIsRefusedWhoeverOwnsIt) {
    for (mode_t mode : {0100664, 0100646}) {
        PidFileFacts f = libvirt_file();
        f.file_mode = mode;
        const std::string why = refusal(f);
        EXPECT_NE(why.find("/run/libvirt/qemu/vm1.pid may be written by others than its owner root (uid 0)"),
                  std::string::npos)
            << why;
        EXPECT_NE(why.find("fix: a VMM writes its pid file 0644 or 0600: chmod go-w /run/libvirt/qemu/vm1.pid"),
                  std::string::npos)
            << why;
    }
}

// The case: nobody may write a group-writable directory and names
// a root process.
TEST(PidFileTrust, InADirectoryOthersMayWriteAnotherUsersFileMayNotNameRootsProcess) {
    PidFileFacts f = libvirt_file();
    f.path = "/srv/pids/evil.pid";
    f.dir_mode = 040775;
    f.file_owner = nobody;
    f.pid = 1;
    f.pid_owner = root;
    const std::string why = refusal(f);
    EXPECT_NE(why.find("/srv/pids/evil.pid is owned by nobody (uid 65534) and names pid 1, a process of root "
                       "(uid 0), in a directory others may write (mode 0775)"),
              std::string::npos)
        << why;
    EXPECT_NE(why.find("fix: have root write the pid file"), std::string::npos) << why;
}

TEST(PidFileTrust, InADirectoryOthersMayWriteAFileMayNameItsOwnersOwnProcess) {
    PidFileFacts f = libvirt_file();
    f.dir_mode = 040770;
    f.file_owner = nobody;
    f.pid_owner = nobody;
    EXPECT_EQ(refusal(f), "trusted");
    f.file_owner = root;  // root's file for root's process
    f.pid_owner = root;
    EXPECT_EQ(refusal(f), "trusted");
}

// Root wrote it, but others may write the directory: root's file naming
// another user's process is refused, and the fix is the directory's mode.
TEST(PidFileTrust, RootsFileNamingAnotherUsersProcessNeedsADirectoryOnlyRootMayWrite) {
    PidFileFacts f = libvirt_file();
    f.path = "/srv/pids/vm1.pid";
    f.dir_mode = 040775;
    const std::string why = refusal(f);
    EXPECT_NE(why.find("in a directory others may write (mode 0775)"), std::string::npos) << why;
    EXPECT_NE(why.find("fix: keep other users out of the directory (chown root /srv/pids; chmod go-w /srv/pids)"),
              std::string::npos)
        << why;
}

// Whoever may write the directory could link in another user's file that
// names that user's process (fs.protected_hardlinks off).
TEST(PidFileTrust, ASecondLinkCountsAsItsOwnersFileOnlyWhereNoOneElseMayWrite) {
    PidFileFacts f = libvirt_file();
    f.dir_mode = 040775;
    f.file_owner = alice;
    f.pid_owner = alice;
    f.file_links = 2;
    const std::string why = refusal(f);
    EXPECT_NE(why.find("/run/libvirt/qemu/vm1.pid has 2 links, in a directory others may write"), std::string::npos)
        << why;
    EXPECT_NE(why.find("not a hard link"), std::string::npos) << why;
    f.dir_mode = 040755;
    EXPECT_EQ(refusal(f), "trusted");
}

TEST(PidFileTrust, TheSidecarsOwnUserIsTrustedAsRootIs) {
    PidFileFacts f = libvirt_file();
    f.sidecar_user = f.file_owner = f.dir_owner = alice;
    f.pid_owner = root;
    EXPECT_EQ(refusal(f), "trusted");
    f.file_owner = alice + 1;  // another user's file, chown-ed there
    EXPECT_NE(refusal(f).find("is owned by uid 1001 and names pid 4242, a process of root (uid 0):"), std::string::npos)
        << refusal(f);
}

TEST(PidFileTrust, AProcessWhoseUidsDifferIsNoOnesOwn) {
    PidFileFacts f = libvirt_file();
    f.dir_mode = 040770;
    f.file_owner = nobody;
    f.pid_owner = std::nullopt;  // e.g. a setuid program nobody started, or one gone
    EXPECT_NE(refusal(f).find("a process of several users or of none"), std::string::npos) << refusal(f);
}

TEST(PidFileTrust, TheDirectoryMustBeRootsOrTheSidecarsAndNotEveryonesToWrite) {
    EXPECT_TRUE(judge_pid_file_dir("/run/libvirt/qemu", root, 040755, root));
    EXPECT_TRUE(judge_pid_file_dir("/srv/pids", root, 040770, root)) << "group-writable: its files are judged";
    EXPECT_TRUE(judge_pid_file_dir("/home/alice/pids", alice, 040700, alice));

    const dtrack::Status everyones = judge_pid_file_dir("/tmp/pids", root, 041777, root);
    ASSERT_FALSE(everyones);
    EXPECT_NE(everyones.error().message().find("is writable by every user"), std::string::npos);
    EXPECT_NE(everyones.error().message().find("fix: "), std::string::npos);

    const dtrack::Status nobodys = judge_pid_file_dir("/srv/pids", nobody, 040755, root);
    ASSERT_FALSE(nobodys);
    EXPECT_EQ(nobodys.error().message(),
              "--pid-file-dir /srv/pids is owned by nobody (uid 65534), not root or the sidecar's user: that user "
              "could let anybody write it; fix: chown root /srv/pids (libvirt's /run/libvirt/qemu is root's), or run "
              "the sidecar as its owner");
}

}  // namespace
