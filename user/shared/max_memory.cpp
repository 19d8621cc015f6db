#include "max_memory.hpp"

#include <cerrno>

#include "dtrack/units.hpp"

namespace dtrack::cli {

Result<uint64_t> parse_max_memory(const std::string& text) {
    auto bytes = parse_size(text, "--max-memory");
    if (!bytes) return bytes.error();
    if (*bytes < (16ULL << 20))
        return Error{EINVAL, "--max-memory " + text + " is too little to read a recording",
                     "give at least 16M (the default is " + std::string(default_max_memory) + ")"};
    return *bytes;
}

}  // namespace dtrack::cli
