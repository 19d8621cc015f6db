// dt_version(), and the check that dtrack.h's DT_VERSION_* macros say what
// the VERSION file says (the Makefile passes it as DTRACK_VERSION): the
// library does not build when they disagree.
#include <string_view>

#include "dtrack/dtrack.h"
#include "dtrack/version.hpp"

namespace {

#define DT_STRINGIFY_(x) #x
#define DT_STRINGIFY(x) DT_STRINGIFY_(x)
constexpr std::string_view header_version =
    DT_STRINGIFY(DT_VERSION_MAJOR) "." DT_STRINGIFY(DT_VERSION_MINOR) "." DT_STRINGIFY(DT_VERSION_PATCH);
static_assert(header_version == DTRACK_VERSION,
              "dtrack.h's DT_VERSION_MAJOR/MINOR/PATCH differ from the VERSION file: update dtrack.h");

}  // namespace

extern "C" const char* dt_version(void) { return dtrack::version(); }
