// A directory of pid files, watched with inotify: NAME.pid holds the PID of
// the process to measure as target NAME. This is the layout libvirt keeps
// in /run/libvirt/qemu (one DOMAIN.pid per running QEMU), and the one QEMU's
// own -pidfile gives. A file written (closed after writing, or renamed in)
// means attach, or re-attach if the PID changed; a file removed (or renamed
// away) means detach. Other files are ignored.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack::cli::sidecar {

struct PidFileChange {
    enum class Kind { written, removed, directory_gone };
    Kind kind;
    std::string target;  // the file name without .pid
    std::string path;
};

class PidFileDir {
public:
    // Starts watching `dir`. Refuses a missing directory, and one that
    // anybody may write to (anybody could then point the sidecar at any
    // process), naming the fix.
    static Result<PidFileDir> watch(const std::string& dir);

    // The pid files there now, as changes of kind `written`.
    std::vector<PidFileChange> current() const;
    // The changes inotify reported since the last call (never blocks).
    std::vector<PidFileChange> read_changes();
    // Becomes readable when there are changes to read (for poll).
    int fd() const { return inotify_.get(); }
    const std::string& dir() const { return dir_; }

    // The PID in a pid file: decimal digits, surrounding whitespace allowed.
    static Result<pid_t> read_pid(const std::string& path);
    // "vm1.pid" -> "vm1"; empty for other names.
    static std::string target_of(const std::string& file_name);

private:
    PidFileDir(std::string dir, UniqueFd inotify) : dir_(std::move(dir)), inotify_(std::move(inotify)) {}

    std::string dir_;
    UniqueFd inotify_;
};

}  // namespace dtrack::cli::sidecar
