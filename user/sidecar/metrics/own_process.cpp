#include "own_process.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace dtrack::cli::sidecar {

double own_cpu_seconds() {
    rusage u{};
    if (::getrusage(RUSAGE_SELF, &u) != 0) return 0;
    const auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    return seconds(u.ru_utime) + seconds(u.ru_stime);
}

double own_start_time_seconds() {
    // Field 22 of /proc/self/stat: start time in clock ticks after boot. The
    // command name (field 2) may hold spaces, so count from its closing ')'.
    std::ifstream stat_file("/proc/self/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream fields(stat.substr(paren + 2));  // field 3 onwards
    std::string field;
    for (int i = 3; i < 22 && fields >> field; ++i) {
    }
    unsigned long long start_ticks = 0;
    if (!(fields >> start_ticks)) return 0;
    std::ifstream boot("/proc/stat");
    for (std::string key; boot >> key;) {
        if (key != "btime") continue;
        unsigned long long btime = 0;
        boot >> btime;
        return double(btime) + double(start_ticks) / double(::sysconf(_SC_CLK_TCK));
    }
    return 0;
}

}  // namespace dtrack::cli::sidecar
