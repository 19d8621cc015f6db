#include "common/installed_docs.hpp"

// The Makefile bakes DOCDIR into this one object (and rebuilds it when
// DOCDIR changes); a compile outside it falls back to the default.
#ifndef DTRACK_DOCDIR
#define DTRACK_DOCDIR "/usr/local/share/doc/dtrack"
#endif

namespace dtrack {

std::string installed_doc(std::string_view relative) {
    return std::string(DTRACK_DOCDIR) + "/" + std::string(relative);
}

}  // namespace dtrack
