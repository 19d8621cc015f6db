// libdtrack.so exports the public API (lib/include/dtrack/) and nothing
// else: an embedder cannot come to depend on the sources', probes' and
// helpers' internals, and the soname and version come from VERSION.
#include <gtest/gtest.h>

#include <sstream>
#include <string>

#include "dtrack/version.hpp"
#include "support/run_command.hpp"

using dtrack_test::binary;
using dtrack_test::run;

namespace {

std::string shared_object() { return binary("libdtrack.so.") + dtrack::version(); }

TEST(Exports, TheSharedObjectExportsThePublicApiOnly) {
    const auto nm = run("nm -D --defined-only -C " + shared_object() + " 2>&1");
    ASSERT_EQ(nm.exit_code, 0) << nm.output;
    for (const char* internal : {"DirtyRingReader::", "StagedPages::", "KvmDirtyRings::", "ResidentPages::",
                                 "RemotePageReader::", "DirtyRingProgram::", "ThreadWriteFaultsProgram::",
                                 "HookLadder::", "dtrack::probe::", "TlsStream", "SocketStream"})
        EXPECT_EQ(nm.output.find(internal), std::string::npos) << internal << " is exported";
    for (const char* api :
         {"dtrack::Tracker::sync(", "dtrack::KvmRingSource::enable(", "dtrack::UffdSource::track(",
          "dtrack::SampleSource::track(", "dtrack::ThreadWriteFaults::attach(",
          "dtrack::ThreadWriteFaultSource::set_vcpu_threads(", "dtrack::precopy::Sender::run(", "dtrack::version()"})
        EXPECT_NE(nm.output.find(api), std::string::npos) << api << " is not exported";
}

// Every exported symbol is the C ABI (dt_*) or the C++ API under namespace
// dtrack (with its types' typeinfo and vtables): lib/libdtrack.map keeps the
// standard library's template instantiations out, -fvisibility=hidden the
// internals.
TEST(Exports, OnlyTheCAbiAndNamespaceDtrackAreExported) {
    const auto nm = run("nm -D --defined-only -C " + shared_object() + " 2>&1");
    ASSERT_EQ(nm.exit_code, 0) << nm.output;
    std::istringstream lines(nm.output);
    std::string line;
    int symbols = 0;
    while (std::getline(lines, line)) {
        // "0000000000012340 T dtrack::Tracker::sync(...)": the name starts after the type letter.
        const std::string name = line.size() > 19 ? line.substr(19) : line;
        const bool allowed = name.starts_with("dt_") || name.starts_with("dtrack::") ||
                             name.starts_with("typeinfo for dtrack::") ||
                             name.starts_with("typeinfo name for dtrack::") || name.starts_with("vtable for dtrack::");
        EXPECT_TRUE(allowed) << "exported, and neither dt_* nor dtrack::: " << name;
        ++symbols;
    }
    EXPECT_GT(symbols, 100);
    for (const char* c_abi : {"dt_version", "dt_last_error", "dt_tracker_create", "dt_sync", "dt_take_bitmap",
                              "dt_ring_on_full", "dt_ring_on_full_own", "dt_uffd_track", "dt_watcher_start",
                              "dt_throttle_create", "dt_precopy_send", "dt_precopy_receive"})
        EXPECT_NE(nm.output.find(std::string(" T ") + c_abi + "\n"), std::string::npos) << c_abi << " is not exported";
    EXPECT_NE(nm.output.find("vtable for dtrack::UffdSource"), std::string::npos) << "C++ embedders subclass and cast";
}

TEST(Exports, TheSonameCarriesTheMajorVersion) {
    const std::string version = dtrack::version();
    const auto r = run("readelf -d " + shared_object() + " 2>&1");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("[libdtrack.so." + version.substr(0, version.find('.')) + "]"), std::string::npos)
        << r.output;
    const auto dtrack = run(binary("dtrack") + " --version");
    EXPECT_EQ(dtrack.output, "dtrack " + version + "\n");
    const auto dtvm = run(binary("dtvm") + " --version");
    EXPECT_EQ(dtvm.output, "dtvm " + version + "\n");
}

}  // namespace
