// The documentation the messages point at is installed, and the messages
// name it where it is: the installed binaries' help, doctor's notes and a
// library error (BPF refused for want of a capability) name DOCDIR's files by
// their absolute path, each of which `make install` put there; none names a
// source-tree path (kconfig-notes/..., docs/..., README.md) on its own.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <set>
#include <string>

#include "support/run_command.hpp"
#include "support/staged_install.hpp"

namespace {

namespace fs = std::filesystem;
using dtrack_test::run;
using dtrack_test::StagedInstall;

// What the installed programs say where they point at documentation.
std::string installed_messages(const StagedInstall& install) {
    const std::string dtrack = "'" + install.staged("/usr/bin/dtrack").string() + "'";
    const std::string dtvm = "'" + install.staged("/usr/bin/dtvm").string() + "'";
    // Root without any capability: doctor's privilege entry and BPF's refusal.
    const std::string no_caps = "setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- ";
    std::string text;
    for (const std::string& command :
         {dtrack + " --help", dtrack + " rate --help", dtrack + " record --help", dtrack + " sidecar --help",
          dtrack + " doctor", no_caps + dtrack + " doctor", dtvm + " --help",
          no_caps + dtrack + " rate --method bpf --pid 1 --interval 100ms 1"})
        text += run(command + " 2>&1").output + "\n";
    return text;
}

// Every absolute path in `text` below `dir`, trailing punctuation cut off.
std::set<std::string> paths_below(const std::string& text, const std::string& dir) {
    std::set<std::string> paths;
    const std::regex path(R"(/[^\s,;:()'"`]+)");
    for (std::sregex_iterator m(text.begin(), text.end(), path), end; m != end; ++m) {
        std::string p = m->str();
        while (!p.empty() && (p.back() == '.' || p.back() == '/')) p.pop_back();
        if (p.rfind(dir + "/", 0) == 0) paths.insert(p);
    }
    return paths;
}

class InstalledDocs : public testing::Test {
protected:
    // One install for the suite (a make run).
    static void SetUpTestSuite() { install_ = std::make_unique<StagedInstall>("PREFIX=/usr"); }
    static void TearDownTestSuite() { install_.reset(); }
    void SetUp() override {
        ASSERT_TRUE(install_->ok()) << install_->output();
        ASSERT_FALSE(docdir.empty()) << "the build does not say its DOCDIR (" << DTRACK_BUILD_DIR << "/docdir)";
    }

    static inline std::unique_ptr<StagedInstall> install_;
    const StagedInstall& install = *install_;
    const std::string docdir = dtrack_test::built_docdir();
};

TEST_F(InstalledDocs, EveryDocumentTheInstalledProgramsNameIsInstalledWhereTheySay) {
    const std::string text = installed_messages(install);

    const std::set<std::string> named = paths_below(text, docdir);
    // (The doctor table breaks a path too long for its column after a '/':
    // the part before is a folder of the install.)
    for (const std::string& p : named) EXPECT_TRUE(fs::exists(install.staged(p))) << p << " is not installed";
    // Each kind of pointer was seen: the help's, doctor's note, the library's.
    for (const char* expected :
         {"/docs/sampling.md", "/docs/recording-format.md", "/README.md", "/kconfig-notes/privileges.md"})
        EXPECT_EQ(named.count(docdir + expected), 1u) << docdir + expected << " not named in:\n" << text;

    // No pointer left relative to a source tree the operator does not have.
    const std::regex relative(R"((^|[\s(])(kconfig-notes/|docs/[\w-]+\.md|README\.md))");
    std::smatch m;
    EXPECT_FALSE(std::regex_search(text, m, relative)) << "names a source-tree path: " << m.str() << " in\n" << text;
}

TEST_F(InstalledDocs, TheInstalledManPagesNameTheInstalledDocuments) {
    std::string man;
    for (const char* page : {"dtrack.1", "dtvm.1"})
        man += dtrack_test::read_text(install.staged("/usr/share/man/man1/" + std::string(page)));
    const std::set<std::string> named = paths_below(man, docdir);
    EXPECT_GE(named.size(), 3u) << man;
    for (const std::string& p : named) EXPECT_TRUE(fs::exists(install.staged(p))) << p << " is not installed";
}

}  // namespace
