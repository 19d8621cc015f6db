#include "dtvm/guest/workload.hpp"

namespace dtvm {

dtrack::Result<Pattern> parse_pattern(const std::string& name) {
    if (name == "sequential") return Pattern::sequential;
    if (name == "random") return Pattern::random;
    if (name == "hotcold") return Pattern::hotcold;
    return dtrack::Error{0, "unknown write pattern '" + name + "'", "use one of: sequential, random, hotcold"};
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
