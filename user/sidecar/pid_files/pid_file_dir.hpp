// A directory of pid files, watched with inotify: NAME.pid holds the PID of
// the process to measure as target NAME. This is the layout libvirt keeps
// in /run/libvirt/qemu (one DOMAIN.pid per running QEMU), and the one QEMU's
// own -pidfile gives. inotify says which names changed (written, renamed in
// or away, removed, chmod-ed); each is then read as it is now, so a batch of
// events and a rescan give the same answer. Other files are ignored.
//
// The directory is opened once and every file is opened relative to that
// fd: a directory renamed or replaced later cannot swap files under the
// sidecar, and its owner and mode are read from the fd for each file.
#pragma once

#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"
#include "pid_file_skips.hpp"

namespace dtrack::cli::sidecar {

// What one NAME.pid says now.
struct PidFileReading {
    std::optional<pid_t> pid;                // set when the file is usable and trusted
    PidFileSkip skip = PidFileSkip::no_pid;  // else why not,
    std::string why;                         // and the message that says so
    bool operator==(const PidFileReading&) const = default;
};

struct PidFileChanges {
    std::set<std::string> targets;   // names whose NAME.pid may have changed
    bool overflowed = false;         // the kernel dropped events (IN_Q_OVERFLOW): rescan
    bool directory_changed = false;  // the directory's owner or mode changed: rescan, judging every file anew
    bool directory_gone = false;
};

class PidFileDir {
public:
    // Starts watching `dir`. Refuses a missing directory, one owned by
    // another user than root or the sidecar's, and one that every user may
    // write (anybody could then point the sidecar at any process), naming
    // the fix.
    static Result<PidFileDir> watch(const std::string& dir);

    // The NAME of each NAME.pid there now.
    std::vector<std::string> targets() const;
    // What inotify reported since the last call (never blocks; at most a
    // bounded batch, so that a writer churning files cannot hold the main
    // loop: the rest stays queued for the next call).
    PidFileChanges read_changes();
    // NAME.pid as it is now; nullopt when there is none, or when it names
    // libvirt's own daemon (its driver.pid), which is no VM.
    std::optional<PidFileReading> read(const std::string& target) const;

    // Becomes readable when there are changes to read (for poll).
    int fd() const { return inotify_.get(); }
    const std::string& dir() const { return dir_; }
    std::string path_of(const std::string& target) const { return dir_ + "/" + target + ".pid"; }
    // "vm1.pid" -> "vm1"; empty for other names.
    static std::string target_of(const std::string& file_name);

private:
    PidFileDir(std::string dir, UniqueFd dir_fd, UniqueFd inotify)
        : dir_(std::move(dir)), dir_fd_(std::move(dir_fd)), inotify_(std::move(inotify)) {}

    std::string dir_;
    UniqueFd dir_fd_;
    UniqueFd inotify_;
};

}  // namespace dtrack::cli::sidecar
