// libFuzzer target: the precopy stream as the receiver parses it (header
// prelude, region table, then records: header, payload crc, and page batches
// inflated and decoded), from any bytes: a clean error, never a crash.
#include <cstdint>
#include <cstdlib>

#include "support/precopy_parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const auto error = dtrack_test::parse_precopy_stream({data, size});
    if (error && error->what.empty()) std::abort();
    return 0;
}
