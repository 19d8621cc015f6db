// `make install` of the built tree (INSTALL_PREBUILT=1: nothing is rebuilt)
// into a staging DESTDIR of its own, for the tests under tests/install/.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/run_command.hpp"

namespace dtrack_test {

// The checkout the build folder belongs to (the Makefile sits above it).
inline std::filesystem::path source_root() {
    const std::filesystem::path build = DTRACK_BUILD_DIR;
    for (const std::filesystem::path& candidate : {build.parent_path(), std::filesystem::current_path()})
        if (std::filesystem::exists(candidate / "Makefile") &&
            std::filesystem::exists(candidate / "lib/include/dtrack/dtrack.h"))
            return candidate;
    return {};
}

inline std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The DOCDIR the build was made for ($(BUILD)/docdir): its messages name files there.
inline std::string built_docdir() {
    std::string dir = read_text(std::filesystem::path(DTRACK_BUILD_DIR) / "docdir");
    while (!dir.empty() && dir.back() == '\n') dir.pop_back();
    return dir;
}

// Runs `make TARGET ARGS BUILD=... DOCDIR=<the build's>` in the checkout
// (DOCDIR: the prebuilt binaries' messages name files there).
inline CommandResult make_in_checkout(const std::string& target, const std::string& args) {
    return run("make --no-print-directory -C '" + source_root().string() + "' " + target +
               " INSTALL_PREBUILT=1 BUILD='" + DTRACK_BUILD_DIR + "' DOCDIR='" + built_docdir() + "' " + args +
               " 2>&1");
}

// A temporary folder holding DESTDIR (root/), removed with the object.
class StagedInstall {
public:
    // `make TARGET ARGS DESTDIR=root/` (e.g. ARGS "PREFIX=/usr LIBDIR=/usr/lib64").
    explicit StagedInstall(const std::string& args, const std::string& target = "install") : args_(args) {
        char dir[] = "/tmp/dtrack-install-XXXXXX";
        if (!::mkdtemp(dir)) return;
        dir_ = dir;
        result_ = make_in_checkout(target, args + " DESTDIR='" + destdir().string() + "'");
    }
    ~StagedInstall() {
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }
    StagedInstall(const StagedInstall&) = delete;
    StagedInstall& operator=(const StagedInstall&) = delete;

    bool ok() const { return !dir_.empty() && result_.exit_code == 0; }
    const std::string& output() const { return result_.output; }
    const std::filesystem::path& dir() const { return dir_; }
    std::filesystem::path destdir() const { return dir_ / "root"; }
    // `path` (absolute, as installed) inside DESTDIR.
    std::filesystem::path staged(const std::string& path) const { return destdir().string() + path; }
    // make uninstall with the same ARGS and DESTDIR.
    CommandResult uninstall() const {
        return make_in_checkout("uninstall", args_ + " DESTDIR='" + destdir().string() + "'");
    }

private:
    std::string args_;
    std::filesystem::path dir_;
    CommandResult result_;
};

}  // namespace dtrack_test
