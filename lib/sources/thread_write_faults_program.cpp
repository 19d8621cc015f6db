#include "sources/thread_write_faults_program.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <string>

#include "thread_write_faults.skel.h"
#include "common/libbpf_log.hpp"

namespace dtrack {

namespace {

bpf_program* program_of(const thread_write_faults_bpf* s, HookFamily family) {
    return family == HookFamily::raw_tracepoint ? s->progs.thread_write_fault_raw : s->progs.thread_write_fault_tp;
}

// The program updates these concurrently. (Templated: __u64 is unsigned long long.)
template <typename T>
T load_relaxed(const T& v) {
    return __atomic_load_n(&v, __ATOMIC_RELAXED);
}

}  // namespace

Result<std::unique_ptr<ThreadWriteFaultsProgram>> ThreadWriteFaultsProgram::open() {
    LibbpfLogCapture log;
    std::unique_ptr<ThreadWriteFaultsProgram> p(new ThreadWriteFaultsProgram);
    p->skeleton_ = thread_write_faults_bpf__open();
    if (!p->skeleton_) {
        const int err = errno;
        return Error{
            err, with_libbpf_words(errno_error("opening the thread_write_faults BPF object", err).what, log), {}};
    }
    return p;
}

ThreadWriteFaultsProgram::~ThreadWriteFaultsProgram() {
    if (link_) bpf_link__destroy(link_);
    if (skeleton_) thread_write_faults_bpf__destroy(skeleton_);
}

Status ThreadWriteFaultsProgram::configure(pid_t target_tgid, uint32_t max_threads, HookFamily family,
                                           const std::vector<dtrack_fault_range>& ranges) {
    if (max_threads == 0)
        return Error{EINVAL, "a thread write-fault map for 0 threads", "give max_threads > 0 (4096 by default)"};
    if (ranges.size() > DTRACK_MAX_FAULT_RANGES)
        return Error{EINVAL,
                     std::to_string(ranges.size()) + " address ranges, more than the program's " +
                         std::to_string(DTRACK_MAX_FAULT_RANGES),
                     "give fewer ranges"};
    family_ = family;
    skeleton_->rodata->target_tgid = static_cast<__u32>(target_tgid);
    skeleton_->rodata->range_count = static_cast<__u32>(ranges.size());
    for (size_t i = 0; i < ranges.size(); ++i) {
        skeleton_->rodata->ranges[i].begin = ranges[i].begin;
        skeleton_->rodata->ranges[i].end = ranges[i].end;
    }
    if (int rc = bpf_map__set_max_entries(skeleton_->maps.faults_by_thread, max_threads); rc != 0)
        return Error{-rc, errno_error("sizing BPF map faults_by_thread", -rc).what, {}};
    for (HookFamily f : {HookFamily::raw_tracepoint, HookFamily::tracepoint})
        bpf_program__set_autoload(program_of(skeleton_, f), f == family);
    return Ok{};
}

Status ThreadWriteFaultsProgram::load() {
    LibbpfLogCapture log;
    if (int rc = thread_write_faults_bpf__load(skeleton_); rc != 0)
        return load_refused("the thread_write_faults BPF program", family_, -rc, log);
    loaded_ = true;
    return Ok{};
}

Status ThreadWriteFaultsProgram::attach() {
    LibbpfLogCapture log;
    link_ = bpf_program__attach(program_of(skeleton_, family_));
    if (link_) return Ok{};
    const int err = errno;
    std::string what = with_libbpf_words(
        errno_error(std::string("attaching to exceptions:page_fault_user as a ") + hook_family_name(family_), err).what,
        log);
    if (err == ENOENT)
        return Error{err, what + ": no such tracepoint (it exists on x86 only)",
                     "per-thread write faults need x86's exceptions:page_fault_user tracepoint; on other "
                     "architectures there is no per-thread view of a process's writes"};
    return Error{err, what, std::string("see ") + hook_family_note(family_)};
}

uint64_t ThreadWriteFaultsProgram::count(pid_t tid) const {
    if (!loaded_) return 0;
    const __u32 key = static_cast<__u32>(tid);
    __u64 value = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skeleton_->maps.faults_by_thread), &key, &value) != 0) return 0;
    return value;
}

std::map<pid_t, uint64_t> ThreadWriteFaultsProgram::counts() const {
    std::map<pid_t, uint64_t> out;
    if (!loaded_) return out;
    const int fd = bpf_map__fd(skeleton_->maps.faults_by_thread);
    // Entries are only ever added, so walking the keys never restarts.
    __u32 key = 0, next = 0;
    const void* previous = nullptr;
    while (bpf_map_get_next_key(fd, previous, &next) == 0) {
        __u64 value = 0;
        if (bpf_map_lookup_elem(fd, &next, &value) == 0) out[static_cast<pid_t>(next)] = value;
        key = next;
        previous = &key;
    }
    return out;
}

dtrack_thread_write_fault_totals ThreadWriteFaultsProgram::totals() const {
    if (!loaded_) return {};
    const dtrack_thread_write_fault_totals& t = skeleton_->bss->totals;
    return {load_relaxed(t.write_faults), load_relaxed(t.unattributed), load_relaxed(t.outside_ranges)};
}

int ThreadWriteFaultsProgram::program_fd() const {
    return loaded_ ? bpf_program__fd(program_of(skeleton_, family_)) : -1;
}

}  // namespace dtrack
