// Reader vCPUs on host CPUs of their own (--reader-cpus).
//
// A reader vCPU's reads per second are the guest's progress that a migration
// policy must not take away. On a host with fewer cores than the guest has
// vCPUs, plus a sender and a receiver, that figure mostly measures who won
// the scheduler; production hosts pin vCPUs to cores of their own (libvirt's
// <vcpupin>, from QEMU's "CPU n/KVM" thread ids). dtvm does the same for its
// readers: they run on the CPUs given, and every other thread of dtvm (the
// writers, the tracking, the sender or receiver) on the CPUs left.
#pragma once

#include <sched.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dtrack/error.hpp"

namespace dtvm {

// "1", "2,3", "2-3,6": host CPU numbers, each at most once.
dtrack::Result<std::vector<uint32_t>> parse_cpu_list(const std::string& text, const std::string& option);

struct ReaderCpus {
    cpu_set_t readers;  // where each reader's thread runs
    cpu_set_t rest;     // every other thread of the process
};

// Checks `cpus` against the CPUs this process may use now: each must be one
// of them, and at least one must be left for the rest.
dtrack::Result<ReaderCpus> plan_reader_cpus(const std::vector<uint32_t>& cpus);

// Moves every thread the process has now to `plan.rest` (threads made
// later inherit it from their creator).
dtrack::Status keep_rest_apart(const ReaderCpus& plan);

// The calling thread to `plan.readers`.
dtrack::Status run_here_as_reader(const ReaderCpus& plan);

}  // namespace dtvm
