#include "http_compression.hpp"

#include <strings.h>
#include <zlib.h>

#include <cstdlib>

namespace dtrack::cli::sidecar {

bool accepts_gzip(std::string_view header) {
    double gzip_q = -1, any_q = -1;  // -1: not named
    while (!header.empty()) {
        const size_t comma = header.find(',');
        std::string entry(header.substr(0, comma));
        header.remove_prefix(comma == std::string_view::npos ? header.size() : comma + 1);
        const size_t semicolon = entry.find(';');
        std::string coding = entry.substr(0, semicolon);
        coding.erase(0, coding.find_first_not_of(" \t"));
        coding.erase(coding.find_last_not_of(" \t") + 1);
        double q = 1;
        if (const size_t at = entry.find("q=", semicolon == std::string::npos ? entry.size() : semicolon);
            at != std::string::npos)
            q = std::strtod(entry.c_str() + at + 2, nullptr);
        if (::strcasecmp(coding.c_str(), "gzip") == 0 || ::strcasecmp(coding.c_str(), "x-gzip") == 0) gzip_q = q;
        else if (coding == "*") any_q = q;
    }
    return gzip_q >= 0 ? gzip_q > 0 : any_q > 0;
}

std::string gzip(std::string_view body) {
    z_stream z{};
    // windowBits 15 + 16: a gzip header and trailer. Level 1: most of the
    // gain for a fraction of the default level's time, on the server's one thread.
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return {};
    std::string out(deflateBound(&z, uLong(body.size())), '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(body.data()));
    z.avail_in = uInt(body.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    const int r = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    return r == Z_STREAM_END ? out : std::string();
}

}  // namespace dtrack::cli::sidecar
