// The feature_probe BPF object (bpf/feature_probe.bpf.c) with only the
// programs a probe needs switched to load, so one program type the kernel
// refuses never blocks the others.
#pragma once

#include <bpf/libbpf.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "dtrack/error.hpp"

struct feature_probe_bpf;

namespace dtrack::probe {

struct ProbeObjectDeleter {
    void operator()(feature_probe_bpf* skeleton) const;
};
using ProbeObject = std::unique_ptr<feature_probe_bpf, ProbeObjectDeleter>;

struct LinkDeleter {
    void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using UniqueLink = std::unique_ptr<bpf_link, LinkDeleter>;

// Opens the object and loads the named programs only (names as in the .bpf.c
// file). The programs count hits for this process only. On failure the Error
// holds the errno and libbpf's own words.
Result<ProbeObject> load_probe_programs(std::initializer_list<std::string_view> programs);

// The program of that name in a loaded object (never null for a name passed
// to load_probe_programs).
bpf_program* find_program(const ProbeObject& object, std::string_view name);

// Attaches the program as its SEC() says. The Error holds errno and libbpf's
// first warning.
Result<UniqueLink> attach(bpf_program* program);

// Reads one of the object's __u64 hit counters (see feature_probe.bpf.c).
std::uint64_t tracepoint_hits(const ProbeObject& object);
std::uint64_t raw_tracepoint_hits(const ProbeObject& object);

}  // namespace dtrack::probe
