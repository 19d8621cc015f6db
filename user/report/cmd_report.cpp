// dtrack report run.dtz: what a recording says about a workload's memory.
// The dirty rate over time (total and per vCPU), working sets over 1 s and
// 10 s windows and the whole run, how soon pages are dirtied again (a log2
// histogram), the hottest regions and address ranges, and a heatmap: in the
// terminal, or as a picture (--heatmap, --plot: SVG or PNG).
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "commands.hpp"
#include "dtrack/units.hpp"
#include "report_analysis.hpp"
#include "report_draw.hpp"
#include "report_terminal.hpp"
#include "shared/max_memory.hpp"

namespace dtrack::cli {

namespace {

struct ReportOptions {
    std::string file;
    bool json = false;
    std::string heatmap;
    std::string plot;
    uint32_t rows = 0;  // terminal heatmap rows (0: 12)
    std::string max_memory = default_max_memory;
};

constexpr uint32_t max_rows = 1000;

int fail(int code, const Error& e) {
    std::fprintf(stderr, "dtrack report: %s\n", e.message().c_str());
    return code;
}

// "100 ms - 200 ms": bucket b of the re-dirty histogram.
std::string bucket_label(uint64_t b, double interval_s) {
    const auto t = [&](double n) {
        const double s = n * interval_s;
        char buf[32];
        if (s < 1) std::snprintf(buf, sizeof buf, "%.0f ms", s * 1000);
        else std::snprintf(buf, sizeof buf, "%.3g s", s);
        return std::string(buf);
    };
    return t(double(1ULL << b)) + " .. " + t(double(2ULL << b));
}

std::string when(uint64_t unix_ns) {
    const time_t s = time_t(unix_ns / 1'000'000'000);
    struct tm tm {};
    gmtime_r(&s, &tm);
    char b[64];
    std::strftime(b, sizeof b, "%Y-%m-%d %H:%M:%S UTC", &tm);
    return b;
}

// The intervals' measured mean length (the asked one for a recording without intervals).
double interval_seconds(const Analysis& a) {
    return a.mean_interval_s > 0 ? a.mean_interval_s : double(a.header.interval_ns) / 1e9;
}

double page_bytes(const Analysis& a) { return a.header.regions.empty() ? 4096 : double(a.header.regions[0].page_size); }

nlohmann::json regions_json(const recording::Header& h) {
    nlohmann::json regions = nlohmann::json::array();
    for (const Region& r : h.regions)
        regions.push_back({{"name", r.name},
                           {"space", r.space == AddressSpace::guest_physical ? "guest-physical" : "host-virtual"},
                           {"base", r.base},
                           {"page_size", r.page_size},
                           {"pages", r.page_count}});
    return regions;
}

nlohmann::json rate_json(const Analysis& a) {
    nlohmann::json rate = nlohmann::json::array();
    for (const RatePoint& p : a.rate) {
        nlohmann::json j{{"t_s", p.t}, {"seconds", p.seconds}, {"dropped", p.dropped}, {"reads_low", p.reads_low}};
        if (!p.dropped) {
            j["pages"] = p.pages;
            j["pages_per_s"] = p.pages_per_s();
            if (p.bound > 0) j["bound_pages"] = p.bound;
            if (!p.vcpu_pages_per_s.empty()) j["vcpu_pages_per_s"] = p.vcpu_pages_per_s;
        }
        rate.push_back(std::move(j));
    }
    return rate;
}

// Each field one type: window_s is always seconds (the run's length for the whole run).
nlohmann::json working_sets_json(const Analysis& a) {
    nlohmann::json ws = nlohmann::json::array();
    for (const WorkingSet& w : a.working_sets) {
        nlohmann::json windows = nlohmann::json::array();
        for (const Window& win : w.windows)
            windows.push_back({{"start_s", win.start_s},
                               {"end_s", win.end_s},
                               {"intervals", win.intervals},
                               {"pages", win.pages},
                               {"whole", win.whole}});
        ws.push_back({{"window_s", w.seconds},
                      {"whole_run", w.whole_run},
                      {"whole_windows", w.whole_windows},
                      {"max_pages", w.max_pages},
                      {"mean_pages", w.mean_pages},
                      {"windows", windows}});
    }
    return ws;
}

// Window lengths the run holds no whole window of.
nlohmann::json skipped_windows_json(const Analysis& a) {
    nlohmann::json skipped = nlohmann::json::array();
    for (double s : a.skipped_windows_s)
        skipped.push_back({{"window_s", s}, {"reason", "longer than the run (" + seconds_text(a.duration_s) + ")"}});
    return skipped;
}

nlohmann::json hot_ranges_json(const recording::Header& h, const std::vector<HotRange>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const HotRange& r : list) {
        const Region& reg = h.regions[r.region];
        out.push_back({{"region", r.region},
                       {"name", reg.name},
                       {"first_page", r.first_page},
                       {"pages", r.pages},
                       {"start", reg.base + r.first_page * reg.page_size},
                       {"bytes", r.pages * reg.page_size},
                       {"where", page_address(h, r.region, r.first_page)},
                       {"dirtyings", std::llround(r.dirtyings)},
                       {"share_per_interval", r.share}});
    }
    return out;
}

nlohmann::json to_json(const Analysis& a) {
    const recording::Header& h = a.header;
    const nlohmann::json regions = regions_json(h), rate = rate_json(a), ws = working_sets_json(a);
    nlohmann::json hist = nlohmann::json::array();
    for (size_t b = 0; b < a.redirty.size(); ++b)
        hist.push_back({{"bucket", b},
                        {"min_intervals", 1ULL << b},
                        {"max_intervals", (2ULL << b) - 1},
                        {"min_s", double(1ULL << b) * interval_seconds(a)},
                        {"pages", a.redirty[b]}});
    const auto ranges = [&](const std::vector<HotRange>& list) { return hot_ranges_json(h, list); };
    nlohmann::json end{{"kind", a.end.kind == recording::ReadEnd::Kind::complete    ? "complete"
                                : a.end.kind == recording::ReadEnd::Kind::truncated ? "truncated"
                                                                                    : "corrupt"},
                       {"offset", a.end.offset}};
    if (!a.end.problem.empty()) end["problem"] = a.end.problem;
    return {{"file",
             {{"version", h.version},
              {"method", h.method},
              {"exact", h.exact},
              {"target", h.target},
              {"host", h.host},
              {"kernel", h.kernel},
              {"start_unix_ns", h.start_unix_ns},
              {"interval_ns", h.interval_ns},  // asked; mean_interval_s is what the intervals took
              {"vcpus", h.vcpus},
              {"regions", regions},
              {"end", end}}},
            {"intervals", a.intervals},
            {"dropped_intervals", a.dropped},
            {"duration_s", a.duration_s},
            {"mean_interval_s", a.mean_interval_s},
            {"estimated", a.estimated},
            {"lost", a.lost},
            {"overapproximated", a.overapproximated},
            {"logging_known_intervals", a.logging_known},
            {"logging_intervals", a.logging_on},
            {"reads_low_intervals", a.reads_low},
            {"rate", rate},
            {"working_set", ws},
            {"working_set_skipped", skipped_windows_json(a)},
            {"redirty_log2_intervals", hist},
            {"regions", ranges(a.regions)},
            {"hottest_ranges", ranges(a.hottest)},
            {"range_bytes", a.range_bytes}};
}

// What was recorded, where and for how long (the measured interval, not the asked one).
void print_recording(const Analysis& a) {
    const recording::Header& h = a.header;
    std::printf("recording: %s, method %s (%s); host %s, kernel %s; started %s\n", h.target.c_str(), h.method.c_str(),
                h.exact && !a.estimated ? "exact" : "estimated", h.host.c_str(), h.kernel.c_str(),
                when(h.start_unix_ns).c_str());
    std::printf("  %" PRIu64 " intervals, mean %s (%s asked), %.1f s", a.intervals,
                seconds_text(a.mean_interval_s).c_str(), seconds_text(double(h.interval_ns) / 1e9).c_str(),
                a.duration_s);
    if (a.dropped) std::printf(", %" PRIu64 " dropped (the writer fell behind: nothing known of them)", a.dropped);
    if (a.lost) std::printf(", %" PRIu64 " events lost by the source", a.lost);
    std::printf("\n");
    if (a.logging_known)
        std::printf("  the VM logged dirty pages in %" PRIu64 " of %" PRIu64 " intervals%s\n", a.logging_on,
                    a.logging_known,
                    a.reads_low ? (", and " + std::to_string(a.reads_low) +
                                   " intervals read low: their pages are the kernel's record, which the VM did not "
                                   "log into the whole interval")
                                      .c_str()
                                : "");
    if (a.estimated) std::printf("  a sample of the pages was recorded: every figure below is scaled up from it\n");
    for (const Region& r : h.regions)
        if (h.regions.size() <= 8)
            std::printf("  region %s: %s at 0x%" PRIx64 " (%s)\n", r.name.c_str(),
                        format_bytes(double(r.bytes())).c_str(), r.base,
                        r.space == AddressSpace::guest_physical ? "guest-physical" : "host-virtual");
    if (h.regions.size() > 8) std::printf("  %zu regions\n", h.regions.size());
}

void print_rate(const Analysis& a) {
    double sum = 0, peak = 0, low = -1;
    uint64_t known = 0;
    std::vector<double> vcpu_sum;
    for (const RatePoint& p : a.rate) {
        if (p.dropped) continue;
        const double r = p.pages_per_s();
        sum += r, peak = std::max(peak, r), low = low < 0 ? r : std::min(low, r);
        ++known;
        if (vcpu_sum.size() < p.vcpu_pages_per_s.size()) vcpu_sum.resize(p.vcpu_pages_per_s.size());
        for (size_t v = 0; v < p.vcpu_pages_per_s.size(); ++v) vcpu_sum[v] += p.vcpu_pages_per_s[v];
    }
    if (!known) return;
    std::printf("dirty rate: mean %s pages/s (%s/s), peak %s, lowest %s", format_count(sum / double(known)).c_str(),
                format_bytes(sum / double(known) * page_bytes(a)).c_str(), format_count(peak).c_str(),
                format_count(std::max(low, 0.0)).c_str());
    for (size_t v = 0; v < vcpu_sum.size(); ++v)
        std::printf("%s vCPU %zu %s", v ? "," : "; per vCPU (ring entries/s):", v,
                    format_count(vcpu_sum[v] / double(known)).c_str());
    std::printf("\n");
}

// Windows cut at the recorded times; a last window cut short, and lengths
// the run holds no whole window of, are said and left out.
void print_working_sets(const Analysis& a) {
    const double page = page_bytes(a);
    std::printf("working set:");
    for (const WorkingSet& w : a.working_sets) {
        if (w.whole_run) {
            std::printf(" whole run %s (%" PRIu64 " pages)\n", format_bytes(double(w.max_pages) * page).c_str(),
                        w.max_pages);
            continue;
        }
        std::printf(" %s windows (%" PRIu64 " of them): max %s, mean %s", seconds_text(w.seconds).c_str(),
                    w.whole_windows, format_bytes(double(w.max_pages) * page).c_str(),
                    format_bytes(w.mean_pages * page).c_str());
        if (!w.windows.empty() && !w.windows.back().whole)
            std::printf(" (the last %s, cut short by the run's end, left out)",
                        seconds_text(w.windows.back().end_s - w.windows.back().start_s).c_str());
        std::printf(";");
    }
    for (double s : a.skipped_windows_s)
        std::printf("  no %s windows: the run (%s) is shorter\n", seconds_text(s).c_str(),
                    seconds_text(a.duration_s).c_str());
}

void print_redirty(const Analysis& a) {
    uint64_t total = 0, most = 0;
    for (uint64_t n : a.redirty) total += n, most = std::max(most, n);
    std::printf(
        "dirtied again after (time between two dirtyings of a page, log2 buckets of intervals, at their "
        "mean %s; %" PRIu64 " re-dirtyings):\n",
        seconds_text(interval_seconds(a)).c_str(), total);
    for (size_t b = 0; b < a.redirty.size(); ++b) {
        const int bar = most ? int(40.0 * double(a.redirty[b]) / double(most) + 0.5) : 0;
        std::printf("  %-22s %10" PRIu64 " %5.1f%% %s\n", bucket_label(b, interval_seconds(a)).c_str(), a.redirty[b],
                    total ? 100.0 * double(a.redirty[b]) / double(total) : 0.0, std::string(size_t(bar), '#').c_str());
    }
}

void print_text(const Analysis& a) {
    const recording::Header& h = a.header;
    print_recording(a);
    print_rate(a);
    print_working_sets(a);
    print_redirty(a);
    std::printf("hottest regions (page-intervals dirtied; share of the region's pages dirtied per interval):\n");
    for (size_t i = 0; i < a.regions.size() && i < 5; ++i)
        std::printf("  %-20s %12.0f  %6.2f%%\n", h.regions[a.regions[i].region].name.c_str(), a.regions[i].dirtyings,
                    100 * a.regions[i].share);
    std::printf("hottest %s ranges:\n", format_bytes(double(a.range_bytes)).c_str());
    for (const HotRange& r : a.hottest)
        std::printf("  %-40s %12.0f  %6.2f%%\n", page_address(h, r.region, r.first_page).c_str(), r.dirtyings,
                    100 * r.share);
}

int run_report(const ReportOptions& o) {
    for (const auto& [path, option] : {std::pair{o.heatmap, "--heatmap"}, std::pair{o.plot, "--plot"}})
        if (!path.empty())
            if (Status s = check_picture_name(path, option); !s) return fail(exit_usage, s.error());
    if (o.rows > max_rows)
        return fail(exit_usage, {EINVAL, "--rows " + std::to_string(o.rows) + " is more than a terminal shows",
                                 "give at most --rows " + std::to_string(max_rows)});
    auto max_memory = parse_max_memory(o.max_memory);
    if (!max_memory) return fail(exit_usage, max_memory.error());
    // A quarter for the interval being read, the rest for what the analysis keeps.
    auto reader = recording::Reader::open(o.file, {.interval_bytes = *max_memory / 4});
    if (!reader) return fail(exit_failure, reader.error());
    const bool terminal = o.heatmap.empty() && !o.json;
    AnalysisOptions ao{.max_bytes = *max_memory - *max_memory / 4};
    if (terminal) {
        ao.heat_rows = o.rows ? o.rows : 12;
        ao.heat_columns = 64;
    }
    auto analysis = analyze(*reader, ao);
    if (!analysis) {
        Error e = analysis.error();
        e.what = o.file + ": " + e.what;
        if (e.errno_value == EFBIG) e.fix = raise_max_memory(*max_memory);
        return fail(exit_failure, e);
    }
    const Analysis& a = *analysis;
    if (o.json) std::printf("%s\n", to_json(a).dump().c_str());
    else print_text(a);
    if (terminal) print_terminal_heatmap(a, terminal_wants_color(STDOUT_FILENO), stdout);
    std::fflush(stdout);
    if (!o.heatmap.empty())
        if (Status s = draw_heatmap(a, o.heatmap); !s) return fail(exit_failure, s.error());
    if (!o.plot.empty())
        if (Status s = draw_plot(a, o.plot); !s) return fail(exit_failure, s.error());
    switch (a.end.kind) {
        case recording::ReadEnd::Kind::complete: return exit_ok;
        case recording::ReadEnd::Kind::truncated:
            std::fprintf(stderr,
                         "dtrack report: %s ends early, %s; the figures cover the %" PRIu64
                         " whole intervals before it\n",
                         o.file.c_str(), a.end.describe().c_str(), a.intervals);
            return exit_ok;
        case recording::ReadEnd::Kind::corrupt:
        case recording::ReadEnd::Kind::too_large:  // analyze() refused it: not here
            std::fprintf(stderr, "dtrack report: %s is %s; the figures cover the %" PRIu64 " intervals before it\n",
                         o.file.c_str(), a.end.describe().c_str(), a.intervals);
            return exit_failure;
    }
    return exit_ok;
}

}  // namespace

void add_report_command(CLI::App& app, ChosenCommand& chosen) {
    auto o = std::make_shared<ReportOptions>();
    CLI::App* cmd = add_command(app, chosen, "report",
                                "What a recording says: rates, working sets, hot memory, heatmaps", o, run_report);
    cmd->add_option("file", o->file, "a recording (dtrack record -o FILE, dtvm --record FILE)")->required();
    cmd->add_flag("--json", o->json, "one JSON document instead of the text (no terminal heatmap)");
    cmd->add_option("--heatmap", o->heatmap,
                    "draw address (y) over time (x), coloured by how much of each band was dirtied, into FILE "
                    "(.svg or .png)")
        ->type_name("FILE");
    cmd->add_option("--plot", o->plot, "draw the dirty rate and working-set curves into FILE (.svg or .png)")
        ->type_name("FILE");
    cmd->add_option("--rows", o->rows, "rows of the terminal heatmap (default 12, at most 1000)");
    cmd->add_option("--max-memory", o->max_memory,
                    "about the most memory the report may take (a quarter for the interval it reads); a recording "
                    "that needs more is refused, naming it")
        ->type_name("SIZE")
        ->capture_default_str();
    cmd->footer(
        "Without --heatmap (and --json) a terminal heatmap follows the figures, in colour when stdout is a "
        "terminal and NO_COLOR is unset or empty (else in shades). Durations and the 1 s and 10 s working-set "
        "windows come from the recorded times of the intervals, not the asked interval; a window length longer "
        "than the run is skipped, and a last window the run ended in is left out of the figures (both said). A "
        "recording cut short (its recorder was killed) is read up to its last whole interval; the report says "
        "where and why it ends.\n"
        "Exit codes: 0 the report is complete (also for a file cut short, which is said on stderr), 1 the file "
        "is not a readable recording (foreign, newer format, corrupt header: the message names the byte offset "
        "and the problem), is corrupt after some intervals (the report covers those), needs more memory than "
        "--max-memory (the message says what), or a picture could not be written, 2 bad command line.");
}

}  // namespace dtrack::cli
