// --reader-cpus: the readers on CPUs of their own (reader_cpus.hpp).
#include "dtvm/vm/reader_cpus.hpp"

#include <dirent.h>
#include <pthread.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace dtvm {

namespace {

dtrack::Error bad_list(const std::string& option, const std::string& text, const std::string& why) {
    return dtrack::Error{EINVAL, option + " '" + text + "': " + why, "give host CPUs as in taskset -c, e.g. 1 or 2-3"};
}

// One number of a CPU list; false when `s` is not all digits.
bool cpu_number(const std::string& s, uint32_t& n) {
    if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    n = uint32_t(std::stoul(s));
    return true;
}

std::string cpus_text(const cpu_set_t& set) {
    std::string s;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) s += (s.empty() ? "" : ",") + std::to_string(c);
    return s;
}

}  // namespace

dtrack::Result<std::vector<uint32_t>> parse_cpu_list(const std::string& text, const std::string& option) {
    std::vector<uint32_t> cpus;
    size_t at = 0;
    while (at <= text.size()) {
        const size_t comma = std::min(text.find(',', at), text.size());
        const std::string item = text.substr(at, comma - at);
        const size_t dash = item.find('-');
        uint32_t first = 0, last = 0;
        if (!cpu_number(item.substr(0, dash), first) ||
            (dash != std::string::npos && !cpu_number(item.substr(dash + 1), last)))
            return bad_list(option, text, "'" + item + "' is not a CPU number or range");
        if (dash == std::string::npos) last = first;
        if (last < first || last >= CPU_SETSIZE)
            return bad_list(option, text,
                            "'" + item + "' is not a range of CPUs 0 to " + std::to_string(CPU_SETSIZE - 1));
        for (uint32_t c = first; c <= last; ++c) {
            for (uint32_t seen : cpus)
                if (seen == c) return bad_list(option, text, "CPU " + std::to_string(c) + " is given twice");
            cpus.push_back(c);
        }
        at = comma + 1;
    }
    return cpus;
}

dtrack::Result<ReaderCpus> plan_reader_cpus(const std::vector<uint32_t>& cpus) {
    ReaderCpus plan;
    if (::sched_getaffinity(0, sizeof plan.rest, &plan.rest) != 0)
        return dtrack::Error{errno, "cannot read which CPUs dtvm may use", "run dtvm without --reader-cpus"};
    const std::string allowed = cpus_text(plan.rest);
    CPU_ZERO(&plan.readers);
    for (uint32_t c : cpus) {
        if (!CPU_ISSET(c, &plan.rest))
            return dtrack::Error{EINVAL, "--reader-cpus: CPU " + std::to_string(c) + " is not one dtvm may run on",
                                 "give CPUs among " + allowed + " (what taskset -p $$ shows)"};
        CPU_SET(c, &plan.readers);
        CPU_CLR(c, &plan.rest);
    }
    if (CPU_COUNT(&plan.rest) == 0)
        return dtrack::Error{EINVAL,
                             "--reader-cpus " + cpus_text(plan.readers) +
                                 " leaves no CPU for the writers and the migration (dtvm may use " + allowed + ")",
                             "leave at least one of them out"};
    return plan;
}

dtrack::Status keep_rest_apart(const ReaderCpus& plan) {
    DIR* tasks = ::opendir("/proc/self/task");
    if (!tasks) return dtrack::Error{errno, "cannot list dtvm's threads in /proc/self/task", "mount /proc"};
    dtrack::Status status = dtrack::Ok{};
    while (dirent* e = ::readdir(tasks)) {
        const pid_t tid = pid_t(std::atoi(e->d_name));
        if (tid <= 0) continue;
        if (::sched_setaffinity(tid, sizeof plan.rest, &plan.rest) != 0 && errno != ESRCH) {
            status = dtrack::Error{errno,
                                   "cannot move dtvm's thread " + std::to_string(tid) + " to CPUs " +
                                       cpus_text(plan.rest) + ": " + std::strerror(errno),
                                   "run dtvm without --reader-cpus"};
            break;
        }
    }
    ::closedir(tasks);
    return status;
}

dtrack::Status run_here_as_reader(const ReaderCpus& plan) {
    if (const int e = ::pthread_setaffinity_np(::pthread_self(), sizeof plan.readers, &plan.readers); e != 0)
        return dtrack::Error{e,
                             "cannot move a reader vCPU to CPUs " + cpus_text(plan.readers) + ": " + std::strerror(e),
                             "run dtvm without --reader-cpus"};
    return dtrack::Ok{};
}

}  // namespace dtvm
