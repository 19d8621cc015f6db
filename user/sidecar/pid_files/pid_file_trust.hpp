// Whom a pid file may point the sidecar at. Whoever can write the pid-file
// directory could otherwise have a root sidecar measure any process and
// publish its working set (and, with --quota, its thread names). libvirt's
// model: a pid file is trusted when root (or the sidecar's own user) wrote it
// in a directory no one else may write; any other one only for processes of
// its own owner, which that owner may measure anyway. Decisions on plain
// facts (from fstat on the opened file and on the directory's fd), so the
// rule is tested apart from the files.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::cli::sidecar {

struct PidFileFacts {
    std::string path;
    uid_t file_owner = 0;
    mode_t file_mode = 0;
    nlink_t file_links = 1;
    uid_t dir_owner = 0;
    mode_t dir_mode = 0;
    uid_t sidecar_user = 0;  // the sidecar's effective uid
    pid_t pid = 0;           // the PID the file holds
    // The user process `pid` runs as: set when its real, effective and saved
    // uids and its /proc entry's owner are all that one user.
    std::optional<uid_t> pid_owner;
};

// Ok when the sidecar may measure the PID the file names, else why not
// (which file, which owner, which process) and what to do.
Status judge_pid_file(const PidFileFacts& f);

// The directory at start: owned by root or the sidecar's user, and not
// writable by every user. A group-writable one is accepted: its files are
// judged one by one (judge_pid_file).
Status judge_pid_file_dir(const std::string& dir, uid_t owner, mode_t mode, uid_t sidecar_user);

// Others than the directory's owner may create files in it.
bool others_may_write(mode_t mode);

// "nobody (uid 65534)", or "uid 1234" for a user without a name.
std::string user_and_uid(uid_t uid);

}  // namespace dtrack::cli::sidecar
