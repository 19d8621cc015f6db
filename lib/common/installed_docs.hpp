// Where messages point a reader: the documentation `make install` puts under
// DOCDIR ($(PREFIX)/share/doc/dtrack), named by its installed path so that a
// hint like "see kconfig-notes/btf.md" is a file the operator can open.
#pragma once

#include <string>
#include <string_view>

namespace dtrack {

// The installed copy of `relative` (a path in the source tree, e.g.
// "kconfig-notes/privileges.md"): DOCDIR, as the build was told, joined to it.
std::string installed_doc(std::string_view relative);

}  // namespace dtrack
