// Hooking dtrack's BPF programs to tracepoints, the same way for every
// program (bpf/dirty_ring.bpf.c, bpf/thread_write_faults.bpf.c): each handler
// has a raw_tp/ entry point (by name, no tracefs) and a tp/ one (the
// formatted record; libbpf needs tracefs for its id). An attach tries the
// families in order (HookLadder), and a refusal is explained the same way
// (load_refused). Internal to lib/.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/libbpf_log.hpp"
#include "dtrack/bpf_hooks.hpp"
#include "dtrack/error.hpp"

namespace dtrack {

// Which entry points load: raw_tp/ (by name, no tracefs) or tp/ (needs tracefs).
enum class HookFamily : uint8_t { raw_tracepoint, tracepoint };

const char* hook_family_name(HookFamily family);  // "raw tracepoint" | "tracepoint"
// The kconfig note that explains the family: "kconfig-notes/ebpf-raw-tracepoints.md".
std::string hook_family_note(HookFamily family);
// The families `hooks` allows, in the order to try them.
std::vector<HookFamily> hook_rungs(BpfHooks hooks);

// The checks that change nothing, before a program is loaded to watch
// process `pid`: it exists, this process runs in the initial PID namespace
// (the tracepoints number processes as that namespace does; from another,
// `pid` would never match and the figures would read 0), and it may load
// tracing BPF. `other_way`, if any, is the namespace error's second fix.
Status may_watch_with_bpf(pid_t pid, const std::string& other_way);

// The Error for a program the kernel refused to load (`err` from the
// skeleton's load): missing privileges, a kernel that refuses although they
// are there, or libbpf's own words. `object` names it: "the dirty_ring BPF programs".
Error load_refused(const std::string& object, HookFamily family, int err, const LibbpfLogCapture& log);

// Tries hook families in order and keeps what each failure said, so that a
// later rung's success can mention it and a total failure names every cause
// and every distinct fix:
//
//   HookLadder ladder;
//   for (HookFamily family : hook_rungs(options.hooks)) {
//       std::vector<std::string> notes;
//       if (!ladder.prepare(family, notes)) continue;      // tracefs for tp/
//       auto p = try_family(family, notes);
//       if (!p) { ladder.failed(family, p.error(), notes); continue; }
//       ladder.note_fallback(family, notes);
//       return ...;
//   }
//   return ladder.error("cannot hook X for process N");
class HookLadder {
public:
    // What a rung needs before its programs load: tracefs for tp/ (mounted
    // when nothing is; `notes` says so). False when the rung cannot be tried
    // (the cause is kept).
    bool prepare(HookFamily family, std::vector<std::string>& notes);
    // The rung failed with `e`; the notes gathered on it go into its cause.
    void failed(HookFamily family, const Error& e, const std::vector<std::string>& notes = {});
    // On success: when earlier rungs failed, a first note saying so.
    void note_fallback(HookFamily family, std::vector<std::string>& notes) const;
    // Every rung failed: "`what`: as a raw tracepoint: ...; as a tracepoint: ...",
    // the last errno, and the distinct fixes joined by "; or ".
    Error error(const std::string& what) const;

private:
    std::vector<std::string> failures_, fixes_;
    int last_errno_ = 0;
};

}  // namespace dtrack
