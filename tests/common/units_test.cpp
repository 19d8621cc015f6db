#include <gtest/gtest.h>

#include "dtrack/units.hpp"

using namespace dtrack;
using namespace std::chrono_literals;

TEST(Units, Sizes) {
    EXPECT_EQ(*parse_size("4096"), 4096u);
    EXPECT_EQ(*parse_size("64K"), 65536u);
    EXPECT_EQ(*parse_size("256M"), 256ull << 20);
    EXPECT_EQ(*parse_size("1GiB"), 1ull << 30);
    EXPECT_EQ(*parse_size("1.5G"), 3ull << 29);
    EXPECT_FALSE(parse_size("lots").ok());
    EXPECT_FALSE(parse_size("-1M").ok());
    EXPECT_FALSE(parse_size("12Q").ok());
    EXPECT_NE(parse_size("12Q").error().fix.find("256M"), std::string::npos);
}

TEST(Units, Counts) {
    EXPECT_EQ(*parse_count("50k"), 50000u);
    EXPECT_EQ(*parse_count("2M"), 2000000u);
    EXPECT_EQ(*parse_count("7"), 7u);
    EXPECT_FALSE(parse_count("k").ok());
}

TEST(Units, Durations) {
    EXPECT_EQ(*parse_duration("10s"), 10s);
    EXPECT_EQ(*parse_duration("500ms"), 500ms);
    EXPECT_EQ(*parse_duration("2m"), 120s);
    EXPECT_EQ(*parse_duration("3"), 3s);
    EXPECT_FALSE(parse_duration("soon").ok());
    EXPECT_FALSE(parse_duration("5 parsecs").ok());
}

// strtod also reads hex, infinity and NaN: "0x10s" was 16 s and "0x1p4M"
// 16 MiB. Only decimal numbers are numbers here, and the message names the
// forms a duration takes.
TEST(Units, OnlyDecimalNumbersAreAcceptedAndTheMessageNamesTheForms) {
    for (const char* text : {"0x10s", "0X10", "0x1p4s", "inf", "nans", "+5s", " 5s", "1e", ".s", "5.5.5s"}) {
        auto r = parse_duration(text, "--interval");
        ASSERT_FALSE(r.ok()) << "'" << text << "' was read as " << r.value().count() << " ns";
        EXPECT_EQ(r.error().what, "--interval: '" + std::string(text) + "' is not a duration");
        EXPECT_NE(r.error().fix.find("a decimal number and ns, us, ms, s, m or h"), std::string::npos)
            << r.error().message();
    }
    for (const char* text : {"0x10", "0x1p4M", "0x10k"}) {
        EXPECT_FALSE(parse_size(text).ok()) << text;
        EXPECT_FALSE(parse_count(text).ok()) << text;
    }
    EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
    EXPECT_EQ(*parse_duration(".5s"), 500ms);
    EXPECT_EQ(*parse_duration("5.s"), 5s);
    EXPECT_EQ(*parse_duration("1e3ms"), 1s);
    EXPECT_EQ(*parse_duration("1E-3s"), 1ms);
    EXPECT_EQ(*parse_duration("0"), 0s);
    EXPECT_EQ(*parse_size("0.5K"), 512u);
}

TEST(Units, DirtyRatesArePagesPerSecondOrASizePerSecond) {
    EXPECT_EQ(*parse_pages_per_second("1000", 4096), 1000.0);
    EXPECT_EQ(*parse_pages_per_second("50k", 4096), 50000.0);
    EXPECT_EQ(*parse_pages_per_second("4M/s", 4096), 1024.0);
    EXPECT_EQ(*parse_pages_per_second("4MB/s", 4096), 1024.0);
    EXPECT_EQ(*parse_pages_per_second("4MiB/s", 4096), 1024.0);
    EXPECT_EQ(*parse_pages_per_second("1G/s", 4096), 262144.0);
    EXPECT_EQ(*parse_pages_per_second("8192B/s", 4096), 2.0);
    EXPECT_EQ(*parse_pages_per_second("2M/s", 2 << 20), 1.0) << "in pages of the size given";
    for (const char* text : {"", "fast", "-5", "4X/s", "4M/h", "/s", "1000/s", "1.5/s", "k"}) {
        auto r = parse_pages_per_second(text, 4096, "--quota");
        ASSERT_FALSE(r.ok()) << "'" << text << "'";
        EXPECT_NE(r.error().what.find("--quota: '" + std::string(text) + "' is not a dirty rate"), std::string::npos)
            << r.error().message();
        EXPECT_NE(r.error().fix.find("4M/s"), std::string::npos) << r.error().message();
    }
    EXPECT_NE(parse_pages_per_second("1000/s", 4096).error().what.find("ambiguous"), std::string::npos);
    for (const char* text : {"0", "0M/s", "0k"}) {
        auto r = parse_pages_per_second(text, 4096, "--quota");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_NE(r.error().fix.find("above 0"), std::string::npos) << r.error().message();
    }
    EXPECT_EQ(parse_pages_per_second("1e30", 4096, "--quota").error().errno_value, ERANGE);
}

// Values the result type cannot hold are refused with the option and the
// limit, never wrapped into something else (a negative downtime, 0 intervals).
TEST(Units, ValuesBeyondTheTypesRangeAreRefusedNamingTheOptionAndTheLimit) {
    const struct {
        const char* text;
        bool ok;
    } sizes[] = {{"16383P", false},    {"17179869183G", true}, {"1e30", false},
                 {"16777216T", false}, {"1e19", true},         {"18446744073709549568", true}};
    for (const auto& c : sizes) {
        auto r = parse_size(c.text, "--mem");
        EXPECT_EQ(r.ok(), c.ok) << c.text;
        if (!r.ok() && r.error().errno_value == ERANGE) {
            EXPECT_NE(r.error().what.find("--mem"), std::string::npos) << r.error().message();
            EXPECT_NE(r.error().what.find("at most 16 EiB"), std::string::npos) << r.error().message();
        }
    }
    for (const char* text : {"1e20", "1e30", "20000000000000000000"})
        EXPECT_EQ(parse_count(text, "--rate").error().errno_value, ERANGE) << text;
    EXPECT_EQ(*parse_count("18000000000000000000"), 18000000000000000000ull);
    for (const char* text : {"1e10", "1e99", "300000000000h", "1e10s", "9300000000000000000ns"}) {
        auto r = parse_duration(text, "--downtime");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_EQ(r.error().errno_value, ERANGE) << text;
        EXPECT_NE(r.error().message().find("--downtime: '"), std::string::npos) << r.error().message();
        EXPECT_NE(r.error().message().find("292 years"), std::string::npos) << r.error().message();
    }
    EXPECT_EQ(*parse_duration("9000000000s"), std::chrono::seconds(9'000'000'000));  // 285 years still fits
}

// A link is sold in bits (10 Gbit/s = 1.25e9 bytes/s) and dtrack's sizes are
// binary bytes: both are written out, and "10Gb", which reads as either (and
// was taken for 10 GiB/s, 8.6x a 10 Gbit link), is refused naming both.
TEST(Units, BandwidthsAreBinaryBytesOrDecimalBitsAndALowercaseBIsRefused) {
    const struct {
        const char* text;
        uint64_t bytes_per_s;
    } accepted[] = {{"10G", 10ull << 30},
                    {"10GB", 10ull << 30},
                    {"10GiB", 10ull << 30},
                    {"10G/s", 10ull << 30},
                    {"10GiB/s", 10ull << 30},
                    {"64K", 65536},
                    {"100M", 100ull << 20},
                    {"4096", 4096},
                    {"4096B/s", 4096},
                    {"10Gbit", 1'250'000'000},
                    {"10Gbit/s", 1'250'000'000},
                    {"10Gbps", 1'250'000'000},
                    {"10gbit", 1'250'000'000},
                    {"10GBit/s", 1'250'000'000},
                    {"100Mbit", 12'500'000},
                    {"100Mbps", 12'500'000},
                    {"800kbit", 100'000},
                    {"800Kbps", 100'000},
                    {"1Tbit", 125'000'000'000},
                    {"2.5Gbit", 312'500'000},
                    {"800bit", 100},
                    {"8bps", 1},
                    {"25Gbits", 3'125'000'000}};
    for (const auto& c : accepted) {
        auto r = parse_bytes_per_second(c.text, "--bandwidth");
        ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().message();
        EXPECT_EQ(*r, c.bytes_per_s) << c.text;
    }
    for (const char* text : {"10Gb", "10gb", "10Gb/s", "10Gib", "10Mb", "800b"}) {
        auto r = parse_bytes_per_second(text, "--bandwidth");
        ASSERT_FALSE(r.ok()) << text << " was read as " << r.value();
        EXPECT_EQ(r.error().what,
                  "--bandwidth: '" + std::string(text) + "' is ambiguous: a lowercase b reads as bits or as bytes");
    }
    EXPECT_EQ(parse_bytes_per_second("10Gb").error().fix,
              "write 10Gbit for gigabits per second or 10GB/10GiB for bytes per second (binary, as all of "
              "dtrack's sizes: 1GB = 1GiB)");
    EXPECT_EQ(parse_bytes_per_second("100mb").error().fix,
              "write 100Mbit for megabits per second or 100MB/100MiB for bytes per second (binary, as all of "
              "dtrack's sizes: 1MB = 1MiB)");
    EXPECT_EQ(parse_bytes_per_second("800b").error().fix,
              "write 800bit for bits per second or 800B for bytes per second");
    for (const char* text : {"fast", "10Q", "10Gbps/s", "10GBps", "10iB", "/s", "10G/h", "-1G", "0x10G"}) {
        auto r = parse_bytes_per_second(text, "--bandwidth");
        ASSERT_FALSE(r.ok()) << text << " was read as " << r.value();
        EXPECT_EQ(r.error().what, "--bandwidth: '" + std::string(text) + "' is not a bandwidth");
        EXPECT_NE(r.error().fix.find("10Gbit"), std::string::npos) << r.error().message();
        EXPECT_NE(r.error().fix.find("10GiB/s"), std::string::npos) << r.error().message();
    }
    EXPECT_EQ(parse_bytes_per_second("1e30", "--bandwidth").error().errno_value, ERANGE);
    EXPECT_EQ(parse_bytes_per_second("1e30bit", "--bandwidth").error().errno_value, ERANGE);
}

// A size is never in bits: "64Mb" is refused as ambiguous, not read as 64 MiB.
TEST(Units, ASizeWithALowercaseBIsRefusedAsAmbiguous) {
    for (const char* text : {"64Mb", "64mb", "1Gib", "4096b"}) {
        auto r = parse_size(text, "--mem");
        ASSERT_FALSE(r.ok()) << text << " was read as " << r.value();
        EXPECT_EQ(r.error().what,
                  "--mem: '" + std::string(text) + "' is ambiguous: a lowercase b reads as bits or as bytes");
    }
    EXPECT_EQ(parse_size("64Mb").error().fix, "write 64MB/64MiB for bytes (sizes are never in bits)");
    EXPECT_FALSE(parse_size("64Mbit").ok());
    EXPECT_EQ(*parse_size("64MB"), 64ull << 20);
    EXPECT_EQ(*parse_size("64MiB"), 64ull << 20);
    EXPECT_EQ(*parse_size("4096B"), 4096u);
    EXPECT_NE(parse_size("12Q").error().fix.find("G, GB and GiB are all 2^30 bytes"), std::string::npos);
}

TEST(Units, ADirtyRateInBytesTakesBitsAndRefusesALowercaseB) {
    EXPECT_EQ(*parse_pages_per_second("32Mbit/s", 4096), 4'000'000.0 / 4096);
    EXPECT_EQ(*parse_pages_per_second("32Mbps", 4096), 4'000'000.0 / 4096);
    auto r = parse_pages_per_second("4Mb/s", 4096, "--quota");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().what, "--quota: '4Mb/s' is ambiguous: a lowercase b reads as bits or as bytes");
}
