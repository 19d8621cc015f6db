// A small configuration file read whole, safely: opened non-blocking (a FIFO
// in its place would block the reader forever), a regular file only, and
// refused above a size limit before anything is read.
#pragma once

#include <cstddef>
#include <string>

#include "dtrack/error.hpp"

namespace dtrack::cli::sidecar {

// `what` names the file in messages ("--web-config-file", "cert_file").
Result<std::string> read_small_file(const std::string& path, size_t max_bytes, const std::string& what);

}  // namespace dtrack::cli::sidecar
