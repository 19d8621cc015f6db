// The tp/ rung of the BPF attach ladder needs tracefs, which a host may not
// have mounted. run_without_tracefs() runs `work` in a child whose private
// mount namespace has every tracefs mount removed, so dtrack must mount it
// itself; the host's mounts stay as they were.
#pragma once

#include <errno.h>
#include <sched.h>
#include <sys/mount.h>

#include <functional>
#include <string>

#include "dtrack/error.hpp"
#include "common/host_files.hpp"
#include "probe/probes.hpp"

namespace dtrack_test {

inline dtrack::probe::Outcome run_without_tracefs(const std::function<dtrack::probe::Outcome()>& work) {
    return dtrack::probe::run_in_child([&] {
        if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
            return dtrack::probe::Outcome{false, "no private mount namespace: " + dtrack::errno_text(errno)};
        for (std::string where = dtrack::mounted_tracefs(); !where.empty(); where = dtrack::mounted_tracefs())
            if (::umount2(where.c_str(), MNT_DETACH) != 0)
                return dtrack::probe::Outcome{false, "cannot unmount " + where + " privately"};
        return work();
    });
}

}  // namespace dtrack_test
