#include "sources/tracefs_mount.hpp"

#include <sys/mount.h>

#include <cerrno>

#include "common/installed_docs.hpp"
#include "common/host_files.hpp"

namespace dtrack {

Result<TracefsPlace> ensure_tracefs() {
    if (std::string where = mounted_tracefs(); !where.empty()) return TracefsPlace{where, false};
    const char* path = "/sys/kernel/tracing";
    if (::mount("tracefs", path, "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        const int err = errno;
        std::string what =
            "tracefs is not mounted, and " + errno_error(std::string("mount -t tracefs tracefs ") + path, err).what;
        if (err == EPERM) what += " (mounting needs CAP_SYS_ADMIN)";
        return Error{err, what,
                     "mount it as root (mount -t tracefs tracefs /sys/kernel/tracing) or use raw tracepoints; "
                     "see " +
                         installed_doc("kconfig-notes/tracefs.md")};
    }
    return TracefsPlace{path, true};
}

}  // namespace dtrack
