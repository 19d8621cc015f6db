// libFuzzer target: any bytes given to the recording reader end in a header
// error or in intervals followed by a clean end (complete, truncated,
// corrupt or too large, with its offset), never in a crash, a hang or a
// huge allocation. The structure-aware mutator (recording_mutator.hpp)
// gets mutated fields past the CRCs.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "dtrack/recording.hpp"
#include "recording_mutator.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto reader =
        dtrack::recording::Reader::from_bytes(std::vector<uint8_t>(data, data + size), {.interval_bytes = 32 << 20});
    if (!reader) {
        if (reader.error().what.empty()) std::abort();
        return 0;
    }
    uint64_t intervals = 0;
    while (auto in = reader->next()) {
        if (in->index != intervals++) std::abort();
        for (const auto& run : in->dirty)
            if (run.region >= reader->header().regions.size() || run.count == 0 ||
                run.first + run.count > reader->header().regions[run.region].page_count)
                std::abort();
    }
    const auto& end = reader->end();
    if (end.offset > size) std::abort();
    if (end.kind != dtrack::recording::ReadEnd::Kind::complete && end.problem.empty()) std::abort();
    return 0;
}
