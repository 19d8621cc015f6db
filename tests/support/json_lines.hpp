// The JSON lines the CLIs print (dtrack rate --json, dtvm --json): one
// object per line; other lines are skipped.
#pragma once

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace dtrack_test {

inline std::vector<nlohmann::json> json_lines(const std::string& output) {
    std::vector<nlohmann::json> out;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line));
    return out;
}

}  // namespace dtrack_test
