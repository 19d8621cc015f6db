// ResidentPages: what the kernel says is there, without touching it. A
// buffer of this process with pages written, pages only read (the shared
// zero page) and pages never touched; PAGEMAP_SCAN and the pagemap-entry
// fallback must agree on which pages hold memory.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <set>

#include "sources/resident_pages.hpp"

using namespace dtrack;

namespace {

constexpr uint64_t page = 4096;

std::set<uint64_t> pages_of(const std::vector<ResidentRun>& runs, Residency r, uint64_t base) {
    std::set<uint64_t> out;
    for (const ResidentRun& run : runs)
        if (run.residency == r)
            for (uint64_t a = run.start; a < run.end; a += page) out.insert((a - base) / page);
    return out;
}

TEST(ResidentPages, WrittenPagesArePresentUntouchedOnesAreAbsentAndBothWaysAgree) {
    constexpr uint64_t pages = 256;
    auto* buf = static_cast<volatile uint8_t*>(
        ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(buf, MAP_FAILED);
    ::madvise(const_cast<uint8_t*>(buf), pages * page, MADV_NOHUGEPAGE);  // 4 KiB pages: one per touch
    const std::set<uint64_t> written{0, 1, 2, 50, 200, 255};
    const std::set<uint64_t> read_only{10, 11, 100};
    for (uint64_t p : written) buf[p * page] = 1;
    uint64_t sum = 0;
    for (uint64_t p : read_only) sum += buf[p * page];
    EXPECT_EQ(sum, 0u);
    const uint64_t base = reinterpret_cast<uint64_t>(buf);

    auto scan = ResidentPages::open(::getpid(), page);
    ASSERT_TRUE(scan.ok()) << scan.error().message();
    std::vector<ResidentRun> by_scan;
    ASSERT_TRUE(scan->scan(base, base + pages * page, by_scan).ok());

    auto entries = ResidentPages::open(::getpid(), page, true);
    ASSERT_TRUE(entries.ok()) << entries.error().message();
    EXPECT_STREQ(entries->method(), "pagemap entries");
    std::vector<ResidentRun> by_entries;
    ASSERT_TRUE(entries->scan(base, base + pages * page, by_entries).ok());

    if (std::string(scan->method()) == "PAGEMAP_SCAN") {
        // PAGEMAP_SCAN tells the zero page apart.
        EXPECT_EQ(pages_of(by_scan, Residency::present, base), written);
        EXPECT_EQ(pages_of(by_scan, Residency::zero, base), read_only);
    }
    // The entries cannot: the zero page counts as present (reading it allocates nothing).
    std::set<uint64_t> both = written;
    both.insert(read_only.begin(), read_only.end());
    EXPECT_EQ(pages_of(by_entries, Residency::present, base), both);
    EXPECT_TRUE(pages_of(by_entries, Residency::swapped, base).empty());
    ::munmap(const_cast<uint8_t*>(buf), pages * page);
}

TEST(ResidentPages, AMissingProcessIsNamed) {
    auto r = ResidentPages::open(999999, page);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("no process 999999"), std::string::npos) << r.error().message();
}

}  // namespace
