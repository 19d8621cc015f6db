// libdtrack.so exports the public API (lib/include/dtrack/) and nothing
// else: an embedder cannot come to depend on the sources', probes' and
// helpers' internals, and the soname and version come from VERSION.
#include <gtest/gtest.h>

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
    for (const char* internal : {"DirtyRingReader::", "KvmDirtyRings::", "ResidentPages::", "RemotePageReader::",
                                 "DirtyRingProgram::", "dtrack::probe::", "TlsStream", "SocketStream"})
        EXPECT_EQ(nm.output.find(internal), std::string::npos) << internal << " is exported";
    for (const char* api : {"dtrack::Tracker::sync(", "dtrack::KvmRingSource::enable(", "dtrack::UffdSource::track(",
                            "dtrack::SampleSource::track(", "dtrack::precopy::Sender::run(", "dtrack::version()"})
        EXPECT_NE(nm.output.find(api), std::string::npos) << api << " is not exported";
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
