// The library's version: the one number the Makefile's VERSION file gives
// the soname (libdtrack.so.MAJOR), `dtrack --version` and `dtvm --version`.
#pragma once

#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack {

// "0.9.0": the version libdtrack was built as (an embedder linking the shared
// object may compare it with the headers it was compiled against).
const char* version();

}  // namespace dtrack

DTRACK_PUBLIC_END
