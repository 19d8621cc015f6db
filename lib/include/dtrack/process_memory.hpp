// Another process's memory, seen from outside: what it has mapped
// (/proc/PID/maps), and the errors of trying to read it.
//
// Reading another process's maps or memory passes the kernel's ptrace access
// check (PTRACE_MODE_READ for maps, _ATTACH for process_vm_readv): root
// (CAP_SYS_PTRACE), or the same user when the target is dumpable and
// kernel.yama.ptrace_scope allows it. The errors here say which rule refused.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/error.hpp"
#include "dtrack/region.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// One line of /proc/PID/maps.
struct Mapping {
    uint64_t start = 0;  // first byte
    uint64_t end = 0;    // one past the last byte
    bool readable = false, writable = false, executable = false;
    bool shared = false;  // 's' (MAP_SHARED) rather than 'p' (private, copy-on-write)
    uint64_t offset = 0;  // into the file
    uint64_t inode = 0;   // 0 for anonymous memory
    std::string path;     // "" (anonymous), "[heap]", "[stack]", "/usr/lib/...", "/memfd:x (deleted)"

    uint64_t bytes() const { return end - start; }
};

// The mappings of `pid`, in address order. Errors: no such process, no permission.
Result<std::vector<Mapping>> read_process_maps(pid_t pid);

// The ranges of `pid`'s memory armed for userfaultfd write-protection
// (VmFlags "uw" in /proc/PID/smaps, Linux 5.7+), in address order: the memory
// the process re-protects, where a thread's write fault is a page newly
// dirtied (dtvm's process backend: its guest RAM). Empty when there is none.
Result<std::vector<AddressRange>> write_protected_ranges(pid_t pid);

// The first byte of [start, end) that no mapping in `maps` covers, or `end` when all of it is mapped.
uint64_t first_unmapped(const std::vector<Mapping>& maps, uint64_t start, uint64_t end);

// --- errors shared by everything that reads another process ------------------------
Error no_process_error(pid_t pid);      // "no process N"
Error process_exited_error(pid_t pid);  // "process N exited" (errno_value ESRCH)
// `pid` lives but ran a new program (execve) since it was opened: the memory
// read so far belonged to its old program (errno_value ESTALE).
Error process_replaced_error(pid_t pid);
// `call` failed with EPERM/EACCES on `pid`: names the rule that refused (another
// user, yama ptrace_scope, a non-dumpable target, or something beyond root) and the fix.
Error no_access_error(pid_t pid, const std::string& call, int err);

}  // namespace dtrack

DTRACK_PUBLIC_END
