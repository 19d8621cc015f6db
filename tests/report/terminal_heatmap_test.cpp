// dtrack report's terminal heatmap, run on a real pseudo-terminal: colour
// only where NO_COLOR (https://no-color.org) does not forbid it, shades that
// show the scale without colour, row labels aligned whatever their length,
// and a head that says which addresses the rows cover and what a cell is.
#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "report_recordings.hpp"
#include "support/run_command.hpp"
#include "support/terminal_run.hpp"

using dtrack_test::binary;
using dtrack_test::recording_with_lengths;
using dtrack_test::run;
using dtrack_test::run_on_terminal;
using namespace dtrack::recording;

namespace {

const std::string escape = "\x1b[";

TEST(TerminalHeatmap, HonoursNoColorOnATerminal) {
    const std::string file = recording_with_lengths("no-color.dtz", std::vector<uint64_t>(30, 100));
    const std::string report = binary("dtrack") + " report " + file;
    const auto coloured = run_on_terminal("env -u NO_COLOR " + report);
    ASSERT_EQ(coloured.exit_code, 0) << coloured.output;
    EXPECT_NE(coloured.output.find(escape + "38;2;"), std::string::npos) << "a terminal gets colour";
    const auto empty = run_on_terminal("NO_COLOR= " + report);
    EXPECT_NE(empty.output.find(escape), std::string::npos) << "an empty NO_COLOR asks for nothing";

    const auto plain = run_on_terminal("NO_COLOR=1 " + report);
    ASSERT_EQ(plain.exit_code, 0) << plain.output;
    EXPECT_EQ(plain.output.find(escape), std::string::npos) << plain.output;
    // The shades carry the scale instead: the hot set is full, the rest light.
    EXPECT_NE(plain.output.find("\u2588\u2588\u2588"), std::string::npos) << plain.output;
    EXPECT_NE(plain.output.find("\u2591"), std::string::npos) << plain.output;
    EXPECT_NE(plain.output.find("scale (square-root"), std::string::npos) << plain.output;
    std::remove(file.c_str());
}

// Host-virtual regions as dtrack record names them: a short name and a long path.
std::string two_mappings() {
    Header h = dtrack_test::sample_header();
    h.method = "uffd";
    h.vcpus = 0;
    h.regions = {{.name = "[heap]",
                  .space = dtrack::AddressSpace::host_virtual,
                  .base = 0x55550000'0000ULL,
                  .page_size = 4096,
                  .page_count = 4096},
                 {.name = "/usr/lib/x86_64-linux-gnu/libc.so.6",
                  .space = dtrack::AddressSpace::host_virtual,
                  .base = 0x7f0000000000ULL,
                  .page_size = 4096,
                  .page_count = 4096}};
    std::vector<Interval> all;
    for (uint64_t i = 0; i < 20; ++i) {
        Interval in;
        in.index = i;
        in.start_ns = i * 100'000'000;
        in.end_ns = (i + 1) * 100'000'000;
        in.dirty = {{0, 0, 2048}, {1, 100 * i, 50}};
        all.push_back(in);
    }
    const std::string path = ::testing::TempDir() + "/mappings.dtz";
    dtrack_test::write_bytes(path, dtrack_test::bytes_of(h, all));
    return path;
}

// The heatmap's rows: the lines with a label, " |", the cells and "|".
std::vector<std::string> heatmap_rows(const std::string& output) {
    std::vector<std::string> rows;
    std::istringstream in(output.substr(output.find("heatmap:")));
    for (std::string line; std::getline(in, line);)
        if (line.find(" |") != std::string::npos && line.back() == '|') rows.push_back(line);
    return rows;
}

// Where the first " |" is, in characters (the cells are UTF-8).
size_t bar_column(const std::string& row) {
    const std::string label = row.substr(0, row.find(" |"));
    size_t n = 0;
    for (char c : label) n += (uint8_t(c) & 0xC0) != 0x80;
    return n;
}

TEST(TerminalHeatmap, RowLabelsAreAlignedWhateverTheirLength) {
    const std::string file = two_mappings();
    const auto r = run(binary("dtrack") + " report --rows 8 " + file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::vector<std::string> rows = heatmap_rows(r.output);
    ASSERT_EQ(rows.size(), 8u) << r.output;
    std::set<size_t> columns;
    for (const std::string& row : rows) columns.insert(bar_column(row));
    EXPECT_EQ(columns.size(), 1u) << r.output;
    EXPECT_NE(r.output.find("/usr/lib/x86_64-linux-gnu/libc.so.6 +"), std::string::npos) << r.output;
    std::remove(file.c_str());
}

TEST(TerminalHeatmap, SaysWhichAddressesItCoversAndWhatACellIs) {
    const std::string file = two_mappings();
    const auto r = run(binary("dtrack") + " report --rows 8 " + file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // From [heap]'s first byte to libc's last dirtied page (100 x 19 + 49), its last byte.
    char last[32];
    std::snprintf(last, sizeof last, "0x%llx", 0x7f0000000000ULL + (100 * 19 + 50) * 4096ULL - 1);
    EXPECT_NE(r.output.find("heatmap: addresses 0x555500000000 ([heap] +0) to " + std::string(last)), std::string::npos)
        << r.output;
    // 2048 + 1950 pages on the axis in 8 rows: 500 pages (1.95 MiB) a row; 20 intervals in 20 columns.
    EXPECT_NE(r.output.find("a cell: 2.0 MiB of addresses (a row) over 1 interval (a column, about 100 ms)"),
              std::string::npos)
        << r.output;
    std::remove(file.c_str());
}

}  // namespace
