// `make install` into a staging tree (DESTDIR), from the already-built
// build folder (INSTALL_PREBUILT=1: nothing is rebuilt), and what an
// embedder gets there: the library with its soname links, a pkg-config file
// with the one version, headers that compile on their own, man pages, the
// binaries, no world-writable file; then the C example (tools/examples)
// built through pkg-config only, dynamically and statically, run against the
// staging tree; then `make uninstall`. The example's KVM part runs where
// /dev/kvm works and reports itself skipped elsewhere.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "dtrack/dtrack.h"
#include "support/backends.hpp"
#include "support/run_command.hpp"
#include "support/staged_install.hpp"

namespace {

namespace fs = std::filesystem;
using dtrack_test::run;

class Install : public testing::Test {
protected:
    // One staging tree for the suite: installing takes a make run.
    static void SetUpTestSuite() {
        root_ = dtrack_test::source_root();
        if (!root_.empty()) install_ = std::make_unique<dtrack_test::StagedInstall>("PREFIX=/usr");
    }
    static void TearDownTestSuite() { install_.reset(); }
    void SetUp() override {
        ASSERT_FALSE(root_.empty()) << "no checkout above " << DTRACK_BUILD_DIR << " nor here";
        ASSERT_TRUE(install_->ok()) << install_->output();
    }

    static fs::path destdir() { return install_->destdir(); }
    static fs::path usr() { return destdir() / "usr"; }
    // The environment that points pkg-config into the staging tree.
    static std::string pkg_config_env() {
        return "PKG_CONFIG_PATH='" + (usr() / "lib/pkgconfig").string() + "' PKG_CONFIG_SYSROOT_DIR='" +
               destdir().string() + "' ";
    }
    // Under make asan / make tsan libdtrack is sanitized, so the example must
    // link the same runtime (and first).
    static std::string sanitizer_ldflags() {
#if defined(__SANITIZE_ADDRESS__)
        return " LDFLAGS=-fsanitize=address,undefined";
#elif defined(__SANITIZE_THREAD__)
        return " LDFLAGS=-fsanitize=thread";
#else
        return "";
#endif
    }
    // Copies tools/examples to a folder of its own and builds it there with `make_args`.
    static dtrack_test::CommandResult build_example(const std::string& name, const std::string& make_args) {
        const fs::path dir = install_->dir() / name;
        fs::create_directories(dir);
        for (const char* f : {"track_self.c", "Makefile"})
            fs::copy_file(root_ / "tools/examples" / f, dir / f, fs::copy_options::overwrite_existing);
        return run(pkg_config_env() + "make --no-print-directory -C '" + dir.string() + "' " + make_args +
                   sanitizer_ldflags() + " 2>&1");
    }
    static dtrack_test::CommandResult run_example(const std::string& name) {
        return run("LD_LIBRARY_PATH='" + (usr() / "lib").string() + "' '" +
                   (install_->dir() / name / "track_self").string() + "' 2>&1");
    }
    // What the example must print: the uffd part, and the KVM part or why it was skipped.
    static void expect_example_output(const std::string& output) {
        EXPECT_NE(output.find("libdtrack " + std::string(dt_version())), std::string::npos) << output;
        EXPECT_NE(output.find("uffd: dirty pages 1 7 8 33 63: as written"), std::string::npos) << output;
        if (dtrack_test::kvm_unusable_reason().empty()) {
            EXPECT_NE(output.find("kvm (dirty ring): dirty pages 3 5 9 12: as written"), std::string::npos) << output;
            EXPECT_NE(output.find("kvm (dirty log): dirty pages 3 5 9 12: as written"), std::string::npos) << output;
        } else {
            EXPECT_NE(output.find("kvm: skipped: "), std::string::npos) << output;
            std::printf("  the example's KVM part was skipped here: %s\n", dtrack_test::kvm_unusable_reason().c_str());
        }
    }

    static inline fs::path root_;
    static inline std::unique_ptr<dtrack_test::StagedInstall> install_;
};

TEST_F(Install, PutsTheLibraryWithItsSonameLinksThePcFileTheManPagesAndTheBinaries) {
    const std::string version = dt_version();
    const std::string major = version.substr(0, version.find('.'));
    const fs::path lib = usr() / "lib";
    EXPECT_TRUE(fs::is_regular_file(lib / "libdtrack.a"));
    ASSERT_TRUE(fs::is_regular_file(lib / ("libdtrack.so." + version)));
    EXPECT_EQ(fs::read_symlink(lib / ("libdtrack.so." + major)), "libdtrack.so." + version);
    EXPECT_EQ(fs::read_symlink(lib / "libdtrack.so"), "libdtrack.so." + major);
    const auto soname = run("readelf -d '" + (lib / ("libdtrack.so." + version)).string() + "' 2>&1");
    EXPECT_NE(soname.output.find("[libdtrack.so." + major + "]"), std::string::npos) << soname.output;

    const auto modversion = run(pkg_config_env() + "pkg-config --modversion dtrack 2>&1");
    EXPECT_EQ(modversion.output, version + "\n");
    const std::string pc = dtrack_test::read_text(lib / "pkgconfig/dtrack.pc");
    EXPECT_NE(pc.find("prefix=/usr\n"), std::string::npos) << pc;
    EXPECT_NE(pc.find("Requires.private: libbpf libelf zlib libzstd openssl"), std::string::npos) << pc;
    EXPECT_EQ(pc.find('@'), std::string::npos) << "a field was not filled in:\n" << pc;

    for (const char* page : {"dtrack.1", "dtvm.1"}) {
        const std::string man = dtrack_test::read_text(usr() / "share/man/man1" / page);
        EXPECT_NE(man.find("\"dtrack " + version + "\""), std::string::npos) << page << " does not carry the version";
        EXPECT_NE(man.find(".SH \"EXIT STATUS\""), std::string::npos) << page;
        EXPECT_NE(man.find("\\-\\-help"), std::string::npos) << page;
    }
    EXPECT_EQ(run("'" + (usr() / "bin/dtrack").string() + "' --version").output, "dtrack " + version + "\n");
    EXPECT_EQ(run("'" + (usr() / "bin/dtvm").string() + "' --version").output, "dtvm " + version + "\n");
    EXPECT_TRUE(fs::is_regular_file(usr() / "include/dtrack/dtrack.h"));
    EXPECT_TRUE(fs::is_regular_file(usr() / "include/dtrack/precopy/sender.hpp"));
}

TEST_F(Install, EveryInstalledHeaderCompilesOnItsOwnFromTheInstalledTree) {
    const fs::path include = usr() / "include";
    std::string names;
    int headers = 0;
    for (const auto& entry : fs::recursive_directory_iterator(include))
        if (entry.is_regular_file()) names += fs::relative(entry.path(), include).string() + "\n", ++headers;
    // Each header alone in a translation unit, with only the staging tree on
    // the include path: a public header that needs an internal one (lib/...)
    // fails. dtrack.h as pedantic C99. Two at a time (the machine has 2 cores).
    const std::string compile =
        "case {} in *.h) c='cc -std=c99 -pedantic -x c';; *) c='g++ -std=c++20 -x c++';; esac; "
        "echo '#include <{}>' | \\$c -Wall -Wextra -Werror -fsyntax-only -I'" +
        include.string() +
        "' - 2>&1 "
        "|| echo 'does not compile on its own: {}'";
    const auto r = run("printf '" + names + "' | xargs -P 2 -I{} sh -c \"" + compile + "\" 2>&1");
    EXPECT_EQ(r.output, "") << r.output;
    EXPECT_GT(headers, 20);
}

TEST_F(Install, NoInstalledFileIsWorldWritable) {
    const auto r = run("find '" + destdir().string() + "' ! -type l -perm -o+w 2>&1");
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_EQ(r.output, "") << "world-writable";
}

TEST_F(Install, TheExampleBuildsThroughPkgConfigAndGetsExactlyTheWrittenPagesBack) {
    const auto built = build_example("dynamic", "");
    ASSERT_EQ(built.exit_code, 0) << built.output;
    const auto linked = run("LD_LIBRARY_PATH='" + (usr() / "lib").string() + "' ldd '" +
                            (install_->dir() / "dynamic/track_self").string() + "' 2>&1");
    EXPECT_NE(linked.output.find((usr() / "lib/libdtrack.so.0").string()), std::string::npos)
        << "not linked against the staged libdtrack.so:\n"
        << linked.output;
    const auto ran = run_example("dynamic");
    EXPECT_EQ(ran.exit_code, 0) << ran.output;
    expect_example_output(ran.output);
}

TEST_F(Install, TheExampleLinksStaticallyThroughPkgConfigStatic) {
    const auto libs = run(pkg_config_env() + "pkg-config --static --libs dtrack 2>&1");
    if (libs.exit_code != 0) GTEST_SKIP() << "pkg-config --static does not work here: " << libs.output;
    const auto built = build_example("static", "STATIC=1");
    ASSERT_EQ(built.exit_code, 0) << built.output;
    const auto linked = run("ldd '" + (install_->dir() / "static/track_self").string() + "' 2>&1");
    EXPECT_EQ(linked.output.find("libdtrack"), std::string::npos) << "libdtrack.so linked, not the archive:\n"
                                                                  << linked.output;
    const auto ran = run_example("static");
    EXPECT_EQ(ran.exit_code, 0) << ran.output;
    expect_example_output(ran.output);
}

// Last (gtest runs a suite's tests in order): the others use the tree.
TEST_F(Install, UninstallRemovesEverythingItInstalled) {
    const auto r = install_->uninstall();
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto left = run("find '" + destdir().string() + "' ! -type d 2>&1");
    EXPECT_EQ(left.output, "") << "left behind by make uninstall";
    EXPECT_FALSE(fs::exists(usr() / "include/dtrack"));
}

}  // namespace
