// dtrack.pc as libbpf's: its directories relative to ${prefix}, LIBDIR
// settable (lib64, a multiarch folder), and the tree movable with
// `pkg-config --define-prefix`. Each case installs (INSTALL_PREBUILT=1) into
// a staging DESTDIR of its own and builds the C example (tools/examples)
// against it through pkg-config only.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/run_command.hpp"
#include "support/staged_install.hpp"

namespace {

namespace fs = std::filesystem;
using dtrack_test::run;
using dtrack_test::StagedInstall;

// Copies tools/examples into `dir` and builds it there with `env` before make.
dtrack_test::CommandResult build_example(const fs::path& dir, const std::string& env) {
    fs::create_directories(dir);
    for (const char* f : {"track_self.c", "Makefile"})
        fs::copy_file(dtrack_test::source_root() / "tools/examples" / f, dir / f, fs::copy_options::overwrite_existing);
#if defined(__SANITIZE_ADDRESS__)
    const std::string ldflags = " LDFLAGS=-fsanitize=address,undefined";
#elif defined(__SANITIZE_THREAD__)
    const std::string ldflags = " LDFLAGS=-fsanitize=thread";
#else
    const std::string ldflags;
#endif
    return run(env + " make --no-print-directory -C '" + dir.string() + "'" + ldflags + " 2>&1");
}

// The example, run against the libdtrack.so in `libdir`, did its uffd part.
void expect_example_runs(const fs::path& dir, const fs::path& libdir) {
    const auto ran = run("LD_LIBRARY_PATH='" + libdir.string() + "' '" + (dir / "track_self").string() + "' 2>&1");
    EXPECT_EQ(ran.exit_code, 0) << ran.output;
    EXPECT_NE(ran.output.find("uffd: dirty pages 1 7 8 33 63: as written"), std::string::npos) << ran.output;
}

TEST(PkgConfigFile, NamesADistributionsLibdirRelativeToThePrefixAndBuildsTheExample) {
    const StagedInstall install("PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu");
    ASSERT_TRUE(install.ok()) << install.output();
    const fs::path libdir = install.staged("/usr/lib/x86_64-linux-gnu");
    EXPECT_TRUE(fs::is_regular_file(libdir / "libdtrack.a"));
    EXPECT_TRUE(fs::is_symlink(libdir / "libdtrack.so"));
    const std::string pc = dtrack_test::read_text(libdir / "pkgconfig/dtrack.pc");
    EXPECT_NE(pc.find("\nprefix=/usr\n"), std::string::npos) << pc;
    EXPECT_NE(pc.find("\nexec_prefix=${prefix}\n"), std::string::npos) << pc;
    EXPECT_NE(pc.find("\nlibdir=${exec_prefix}/lib/x86_64-linux-gnu\n"), std::string::npos) << pc;
    EXPECT_NE(pc.find("\nincludedir=${prefix}/include\n"), std::string::npos) << pc;

    const std::string env = "PKG_CONFIG_PATH='" + (libdir / "pkgconfig").string() + "' PKG_CONFIG_SYSROOT_DIR='" +
                            install.destdir().string() + "'";
    const auto libs = run(env + " pkg-config --libs dtrack 2>&1");
    EXPECT_EQ(libs.output, "-L" + libdir.string() + " -ldtrack \n");
    const auto built = build_example(install.dir() / "example", env);
    ASSERT_EQ(built.exit_code, 0) << built.output;
    expect_example_runs(install.dir() / "example", libdir);
}

TEST(PkgConfigFile, MovesWithTheTreeUnderDefinePrefixAndInstallStripPutsLib64Right) {
    const StagedInstall install("PREFIX=/opt/dtrack LIBDIR=/opt/dtrack/lib64", "install-strip");
    ASSERT_TRUE(install.ok()) << install.output();
    // The installed tree, moved somewhere its pc file never heard of.
    const fs::path moved = install.dir() / "elsewhere";
    fs::rename(install.staged("/opt/dtrack"), moved);
    const auto symbols = run("nm '" + (moved / "bin/dtrack").string() + "' 2>&1");
    EXPECT_NE(symbols.output.find("no symbols"), std::string::npos) << "install-strip left the symbol table";

    const std::string env = "PKG_CONFIG_PATH='" + (moved / "lib64/pkgconfig").string() + "'";
    // (pkgconf moves the packages dtrack requires too, by the same rule:
    // their flags are not dtrack's to check.)
    const std::string define_prefix = env + " pkg-config --define-prefix --variable=";
    EXPECT_EQ(run(define_prefix + "prefix dtrack").output, moved.string() + "\n");
    EXPECT_EQ(run(define_prefix + "libdir dtrack").output, (moved / "lib64").string() + "\n");
    EXPECT_EQ(run(define_prefix + "includedir dtrack").output, (moved / "include").string() + "\n");
    const auto built = build_example(install.dir() / "example", env + " PKG_CONFIG='pkg-config --define-prefix'");
    ASSERT_EQ(built.exit_code, 0) << built.output;
    expect_example_runs(install.dir() / "example", moved / "lib64");
}

}  // namespace
