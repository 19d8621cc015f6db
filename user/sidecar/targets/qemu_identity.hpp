// Who a QEMU process is, from its command line: the labels domain (QEMU's
// -name guest=NAME, libvirt's domain name) and uuid (-uuid UUID).
//
// From /proc/PID/cmdline rather than libvirt's status XML
// (/run/libvirt/qemu/NAME.xml): the command line belongs to the very process
// measured, so its labels cannot come from another domain's file; every
// QEMU started with -name/-uuid has one (by libvirt, by hand, in KubeVirt's
// virt-launcher); it needs no XML parser; and the status XML is root's alone
// (0600), while a sidecar with CAP_SYS_PTRACE reads any command line.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string_view>

#include "target_labels.hpp"

namespace dtrack::cli::sidecar {

// What of /proc/PID/cmdline is read: libvirt's run to a few KiB, and -name
// and -uuid come early; a longer one is not held.
inline constexpr size_t max_cmdline_bytes = 64 * 1024;

// domain and uuid from a command line as /proc/PID/cmdline has it (arguments
// each ended by a NUL). Nothing unless argv[0] is QEMU's (its file name
// begins with "qemu"), as other programs' -name means something else; a
// uuid only in QEMU's own form (8-4-4-4-12 hex digits).
TargetLabels qemu_identity_labels(std::string_view cmdline);

// The same for process `pid`; none when its command line cannot be read.
TargetLabels qemu_identity_labels(pid_t pid);

}  // namespace dtrack::cli::sidecar
