// Word wrapping for terminal output that must fit 80 columns.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace dtrack::cli {

// Splits `text` into lines of at most `width` characters, breaking at spaces;
// a word longer than `width` is cut. Empty text gives no lines.
std::vector<std::string> wrap(std::string_view text, std::size_t width);

}  // namespace dtrack::cli
