// /metrics in gzip: only for a scraper that accepts it, and what it inflates
// to is the scrape, byte for byte.
#include "sidecar/http/http_compression.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

using dtrack::cli::sidecar::accepts_gzip;
using dtrack::cli::sidecar::gzip;

namespace {

std::string gunzip(const std::string& in) {
    z_stream z{};
    if (inflateInit2(&z, 15 + 16) != Z_OK) return "inflateInit2 failed";
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = uInt(in.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = uInt(out.size());
    const int r = inflate(&z, Z_FINISH);
    out.resize(z.total_out);
    inflateEnd(&z);
    return r == Z_STREAM_END ? out : "inflate failed";
}

TEST(HttpCompression, GzipOnlyWhenTheAcceptEncodingHeaderTakesIt) {
    for (const char* yes : {"gzip", "gzip, deflate", "deflate, GZIP;q=0.5", "x-gzip", "*", "br;q=1, *;q=0.1"})
        EXPECT_TRUE(accepts_gzip(yes)) << yes;
    for (const char* no : {"", "identity", "deflate, br", "gzip;q=0", "gzip; q=0.0, *", "*;q=0", "gzipped"})
        EXPECT_FALSE(accepts_gzip(no)) << no;
}

TEST(HttpCompression, TheGzipBodyInflatesToTheScrapeByteForByte) {
    std::string scrape;
    for (int i = 0; i < 2000; ++i) scrape += "dtrack_dirty_pages_total{target=\"vm" + std::to_string(i) + "\"} 12345\n";
    const std::string zipped = gzip(scrape);
    ASSERT_FALSE(zipped.empty());
    EXPECT_LT(zipped.size(), scrape.size() / 4);
    EXPECT_EQ(gunzip(zipped), scrape);
    EXPECT_EQ(gunzip(gzip("")), "");
}

}  // namespace
