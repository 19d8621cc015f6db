// --duration, --interval, --json, --throttle, --record.
#include <algorithm>
#include <string>

#include "common/installed_docs.hpp"
#include "dtrack/units.hpp"
#include "dtvm/options/option_groups.hpp"

namespace dtvm::option_groups {

void add_check_loop_options(CLI::App& app, CheckLoopFlags& f) {
    app.add_option("--duration", f.duration, "how long to run the check loop (e.g. 10s)")->capture_default_str();
    app.add_option("--interval", f.interval, "how often to check and print")->capture_default_str();
    app.add_flag("--json", f.values.json,
                 "one JSON object per interval instead of the table; with --migrate-to, the report then a JSON "
                 "summary as its last line");
    app.add_option("--throttle", f.values.throttle_pct,
                   "hold each vCPU this % of the time, as auto-converge does (0-99; not with --migrate-to, whose "
                   "throttle is --auto-converge's)")
        ->capture_default_str();
    app.add_option("--record", f.values.record,
                   "write the pages taken each interval to FILE, a recording `dtrack report` reads (" +
                       dtrack::installed_doc("docs/recording-format.md") + ")")
        ->type_name("FILE");
}

dtrack::Result<CheckLoopOptions> parse_check_loop(const CheckLoopFlags& f) {
    auto duration = dtrack::parse_duration(f.duration, "--duration");
    if (!duration) return duration.error();
    auto interval = dtrack::parse_duration(f.interval, "--interval");
    if (!interval) return interval.error();
    if (*interval <= std::chrono::nanoseconds(0))
        return dtrack::Error{EINVAL, "--interval must be positive", "use e.g. 1s"};
    CheckLoopOptions check = f.values;
    if (check.throttle_pct < 0 || check.throttle_pct > 99)
        return dtrack::Error{EINVAL, "--throttle " + std::to_string(check.throttle_pct) + " is out of range",
                             "give a percentage from 0 to 99, as auto-converge's steps are"};
    check.duration = *duration;
    check.interval = std::min(*interval, *duration);  // one check at the end of a short run, not none
    return check;
}

}  // namespace dtvm::option_groups
