// dtrack report --json gives every field one JSON type wherever it appears,
// so a program reading it needs no case for "sometimes a string".
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <set>

#include "report_recordings.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;
using nlohmann::json;
using namespace dtrack::recording;

namespace {

// "integer" for any whole number (signed or not), else nlohmann's type name.
std::string type_of(const json& v) { return v.is_number_integer() ? "integer" : v.type_name(); }

// Every field's types, by its path with array positions as "[]".
void collect_types(const json& v, const std::string& path, std::map<std::string, std::set<std::string>>& types) {
    types[path].insert(type_of(v));
    if (v.is_object())
        for (const auto& [key, value] : v.items()) collect_types(value, path + "." + key, types);
    else if (v.is_array())
        for (const json& item : v) collect_types(item, path + "[]", types);
}

TEST(ReportJson, EveryFieldHasOneTypeWhereverItAppears) {
    // 2.5 s of intervals: 1 s windows (the last cut short) and the whole run;
    // one interval an estimate with its bound, one dropped.
    Header h = dtrack_test::sample_header();
    std::vector<Interval> all = dtrack_test::sample_intervals(h, 25);
    all[3].estimated_pages = double(all[3].dirty_pages()) * 4;
    all[3].bound_pages = 100;
    all[5].dropped = true;
    all[5].dirty.clear();
    all[5].vcpu_pages.clear();
    const std::string file = ::testing::TempDir() + "/types.dtz";
    dtrack_test::write_bytes(file, dtrack_test::bytes_of(h, all));
    const auto r = run(binary("dtrack") + " report --json " + file);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, std::set<std::string>> types;
    collect_types(json::parse(r.output), "", types);
    ASSERT_TRUE(types.count(".working_set[].window_s"));
    for (const auto& [path, seen] : types) {
        std::string names;
        for (const std::string& t : seen) names += " " + t;
        EXPECT_EQ(seen.size(), 1u) << path << " is" << names;
    }
    std::remove(file.c_str());
}

}  // namespace
