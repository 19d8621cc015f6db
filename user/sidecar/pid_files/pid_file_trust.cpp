#include "pid_file_trust.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

namespace dtrack::cli::sidecar {

namespace {

std::string octal(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", unsigned(mode & 07777));
    return text;
}

bool trusted_user(uid_t uid, uid_t sidecar_user) { return uid == 0 || uid == sidecar_user; }

// Why the directory does not vouch for its files, or empty when it does.
std::string untrusted_place(const PidFileFacts& f) {
    if (!trusted_user(f.dir_owner, f.sidecar_user)) return "in a directory owned by " + user_and_uid(f.dir_owner);
    if (others_may_write(f.dir_mode)) return "in a directory others may write (mode " + octal(f.dir_mode) + ")";
    return {};
}

}  // namespace

bool others_may_write(mode_t mode) { return (mode & (S_IWGRP | S_IWOTH)) != 0; }

std::string user_and_uid(uid_t uid) {
    passwd entry{}, *found = nullptr;
    char buf[1024];
    const std::string number = "uid " + std::to_string(uid);
    if (::getpwuid_r(uid, &entry, buf, sizeof buf, &found) != 0 || !found) return number;
    return std::string(found->pw_name) + " (" + number + ")";
}

Status judge_pid_file(const PidFileFacts& f) {
    if (others_may_write(f.file_mode))
        return Error{EPERM,
                     f.path + " may be written by others than its owner " + user_and_uid(f.file_owner) + " (mode " +
                         octal(f.file_mode) + ")",
                     "a VMM writes its pid file 0644 or 0600: chmod go-w " + f.path};
    const std::string place = untrusted_place(f);
    if (trusted_user(f.file_owner, f.sidecar_user) && place.empty()) return Ok{};
    if (f.pid_owner == f.file_owner) {
        // Its owner's own process; but a second link, where others may
        // write, may be another user's file linked in.
        if (f.file_links == 1 || place.empty()) return Ok{};
        return Error{EPERM, f.path + " has " + std::to_string(f.file_links) + " links, " + place,
                     "write the pid file itself into the directory (as a VMM does), not a hard link"};
    }
    const std::string runs_as =
        f.pid_owner ? "a process of " + user_and_uid(*f.pid_owner) : "a process of several users or of none";
    const bool owner_is_the_cause = !trusted_user(f.file_owner, f.sidecar_user);
    const std::string dir = f.path.substr(0, f.path.rfind('/'));
    return Error{EPERM,
                 f.path + " is owned by " + user_and_uid(f.file_owner) + " and names pid " + std::to_string(f.pid) +
                     ", " + runs_as + (place.empty() ? "" : ", " + place) +
                     ": a pid file may name another user's process only when root (or the sidecar's user) wrote it "
                     "in a directory no one else may write",
                 owner_is_the_cause
                     ? "have root write the pid file (as libvirt does), or name a process of the file's "
                       "owner"
                     : "keep other users out of the directory (chown root " + dir + "; chmod go-w " + dir + ")"};
}

Status judge_pid_file_dir(const std::string& dir, uid_t owner, mode_t mode, uid_t sidecar_user) {
    if ((mode & S_IWOTH) != 0)
        return Error{EPERM,
                     "--pid-file-dir " + dir +
                         " is writable by every user: anybody could point the sidecar at any "
                         "process",
                     "use a directory only the VMM's user can write (chmod o-w " + dir + ")"};
    if (!trusted_user(owner, sidecar_user))
        return Error{EPERM,
                     "--pid-file-dir " + dir + " is owned by " + user_and_uid(owner) +
                         ", not root or the sidecar's user: that user could let anybody write it",
                     "chown root " + dir + " (libvirt's /run/libvirt/qemu is root's), or run the sidecar as its owner"};
    return Ok{};
}

}  // namespace dtrack::cli::sidecar
