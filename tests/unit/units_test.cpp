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
