// libFuzzer target: dtrack report's analysis (user/report/report_analysis.cpp) of
// any recording, within the limits dtrack report --max-memory 64M gives it:
// figures that hold together, or an error that says which limit, never a
// crash, a hang (-timeout) or more memory than -rss_limit_mb. The
// structure-aware mutator gets mutated intervals past the reader's CRCs.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dtrack/recording.hpp"
#include "recording_mutator.hpp"
#include "report/report_analysis.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    constexpr uint64_t max_memory = 64 << 20;
    auto reader = dtrack::recording::Reader::from_bytes(std::vector<uint8_t>(data, data + size),
                                                        {.interval_bytes = max_memory / 4});
    if (!reader) return 0;
    const dtrack::cli::AnalysisOptions options{
        .heat_rows = 64, .heat_columns = 64, .max_bytes = max_memory - max_memory / 4};
    auto analysis = dtrack::cli::analyze(*reader, options);
    if (!analysis) {
        if (analysis.error().what.empty() || analysis.error().fix.empty()) std::abort();
        return 0;
    }
    const dtrack::cli::Analysis& a = *analysis;
    const dtrack::cli::Heatmap& h = a.heatmap;
    if (a.rate.size() != a.intervals || a.working_sets.size() != 3) std::abort();
    if (h.cells.size() != size_t(h.rows) * h.columns || h.rows > options.heat_rows || h.columns > options.heat_columns)
        std::abort();
    for (double cell : h.cells)
        if (!(cell >= 0 && cell <= 1)) std::abort();
    if (a.hottest.size() > options.hottest) std::abort();
    for (const auto& r : a.hottest)
        if (!(r.share >= 0 && r.share <= 1) || r.region >= a.header.regions.size()) std::abort();
    return 0;
}
