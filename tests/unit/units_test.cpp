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

// Values the result type cannot hold are refused with the option and the
// limit, never wrapped into something else (a negative downtime, 0 intervals).
TEST(Units, ValuesBeyondTheTypesRangeAreRefusedNamingTheOptionAndTheLimit) {
    const struct {
        const char* text;
        bool ok;
    } sizes[] = {{"16383P", false}, {"17179869183G", true}, {"1e30", false}, {"16777216T", false}, {"1e19", true},
                 {"18446744073709549568", true}};
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

TEST(Units, DirtyRatesArePagesPerSecondUnlessGivenInBytes) {
    EXPECT_EQ(parse_page_rate("1000").value(), 1000);
    EXPECT_EQ(parse_page_rate("50k").value(), 50'000);
    EXPECT_EQ(parse_page_rate("4M/s").value(), 1024);   // 4 MiB/s in 4 KiB pages
    EXPECT_EQ(parse_page_rate("4MB/s").value(), 1024);
    EXPECT_EQ(parse_page_rate("1MiB").value(), 256);
    EXPECT_EQ(parse_page_rate("5000B/s").value(), 2);   // whole pages, rounded up
    for (const char* bad : {"0", "0M/s", "fast", "-5", "4X/s", ""}) {
        auto r = parse_page_rate(bad, "--dirty-limit");
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message().find("--dirty-limit"), std::string::npos) << r.error().message();
        EXPECT_FALSE(r.error().fix.empty());
    }
}
