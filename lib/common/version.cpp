#include "dtrack/version.hpp"

namespace dtrack {

const char* version() { return DTRACK_VERSION; }  // from the Makefile's VERSION file

}  // namespace dtrack
