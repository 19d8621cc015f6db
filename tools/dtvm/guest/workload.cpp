#include "dtvm/guest/workload.hpp"

#include <cerrno>

namespace dtvm {

dtrack::Result<Pattern> parse_pattern(const std::string& name) {
    if (name == "sequential") return Pattern::sequential;
    if (name == "random") return Pattern::random;
    if (name == "hotcold") return Pattern::hotcold;
    return dtrack::Error{0, "unknown write pattern '" + name + "'", "use one of: sequential, random, hotcold"};
}

dtrack::Status check_write_bytes(uint64_t bytes) {
    if (bytes >= 8 && bytes <= 4096 && bytes % 8 == 0) return dtrack::Ok{};
    return dtrack::Error{EINVAL,
                         "--write-bytes " + std::to_string(bytes) +
                             " is not a whole number of 8-byte words from 8 (the stamp alone) to 4096 (the page)",
                         "give a multiple of 8 from 8 to 4096, e.g. 8, 512 or 4096"};
}

std::string pattern_name(Pattern p) {
    switch (p) {
        case Pattern::sequential: return "sequential";
        case Pattern::random: return "random";
        case Pattern::hotcold: return "hotcold";
    }
    return "pattern#" + std::to_string(static_cast<int>(p));
}

}  // namespace dtvm
