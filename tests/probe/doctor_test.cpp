// `dtrack doctor` and the feature probes behind it (lib/probe/).
//
// Runs the real binary (build/dtrack, found through DTRACK_BUILD_DIR) and the
// library API on the running kernel. Where the kernel genuinely lacks a
// mechanism the fact tests skip, after checking that with a direct syscall
// of their own rather than trusting the probe under test.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "dtrack/features.hpp"
#include "support/run_command.hpp"
#include "common/linux_compat.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const std::string dtrack_binary = dtrack_test::binary("dtrack");

using dtrack_test::CommandResult;
using dtrack_test::run;

// `dtrack doctor --json`, parsed once for all tests of this file.
const json& doctor_json() {
    static const json parsed = [] {
        CommandResult r = run(dtrack_binary + " doctor --json");
        EXPECT_EQ(r.exit_code, 0) << "dtrack doctor --json failed";
        return json::parse(r.output);
    }();
    return parsed;
}

const json* json_feature(std::string_view id) {
    for (const json& f : doctor_json().at("features"))
        if (f.at("id").get<std::string>() == id) return &f;
    return nullptr;
}

bool is_pvm_host() { return fs::exists("/sys/module/kvm_pvm"); }

bool has_capability(int number) {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("CapEff:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) >> number) & 1;
    return false;
}

// --- the JSON document -------------------------------------------------------

TEST(DoctorCli, JsonHasOneCompleteEntryPerMechanism) {
    const json& doc = doctor_json();
    ASSERT_TRUE(doc.at("features").is_array());
    ASSERT_EQ(doc.at("features").size(), dtrack::feature_id::all.size());

    std::set<std::string> seen;
    for (const json& f : doc.at("features")) {
        for (const char* field : {"id", "name", "detail", "enables", "reason", "fix", "note"})
            ASSERT_TRUE(f.contains(field) && f.at(field).is_string()) << field << " in " << f.dump();
        ASSERT_TRUE(f.contains("available") && f.at("available").is_boolean()) << f.dump();
        std::string id = f.at("id");
        EXPECT_TRUE(seen.insert(id).second) << "duplicate id " << id;
        EXPECT_FALSE(f.at("name").get<std::string>().empty()) << id;
        EXPECT_FALSE(f.at("enables").get<std::string>().empty()) << id;
        EXPECT_EQ(f.at("note").get<std::string>().rfind("kconfig-notes/", 0), 0u) << id;
        if (f.at("available")) {
            EXPECT_FALSE(f.at("detail").get<std::string>().empty()) << id << " is available but says nothing";
        } else {
            EXPECT_FALSE(f.at("reason").get<std::string>().empty()) << id << " is missing without a reason";
            EXPECT_FALSE(f.at("fix").get<std::string>().empty()) << id << " is missing without a fix";
        }
    }
    for (std::string_view id : dtrack::feature_id::all) EXPECT_TRUE(seen.count(std::string(id))) << id;
}

TEST(DoctorCli, JsonNamesTheKernelAndSumsUp) {
    const json& doc = doctor_json();
    utsname u{};
    ASSERT_EQ(::uname(&u), 0);
    EXPECT_EQ(doc.at("kernel"), u.release);

    std::size_t available = 0;
    for (const json& f : doc.at("features")) available += f.at("available").get<bool>();
    const json& summary = doc.at("summary");
    EXPECT_EQ(summary.at("total"), doc.at("features").size());
    EXPECT_EQ(summary.at("available"), available);
    EXPECT_EQ(summary.at("unavailable"), doc.at("features").size() - available);
    EXPECT_EQ(summary.at("unavailable_ids").size(), doc.at("features").size() - available);
}

// --- facts of the running kernel ---------------------------------------------

TEST(DoctorCli, DirtyRingWithItsMaximumSize) {
    int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) GTEST_SKIP() << "/dev/kvm does not open: " << std::strerror(errno);
    int max_bytes = ::ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_DIRTY_LOG_RING);
    ::close(kvm);
    if (max_bytes <= 0) GTEST_SKIP() << "this KVM has no dirty ring";

    const json* ring = json_feature(dtrack::feature_id::kvm_dirty_ring);
    ASSERT_NE(ring, nullptr);
    EXPECT_TRUE(ring->at("available")) << ring->at("reason");
    std::string entries = "max " + std::to_string(max_bytes / 16) + " entries";
    EXPECT_NE(ring->at("detail").get<std::string>().find(entries), std::string::npos) << ring->at("detail");
    if (is_pvm_host()) {  // the machine kind dtrack is developed on
        EXPECT_NE(ring->at("detail").get<std::string>().find("max 65536 entries (1 MiB per vCPU)"), std::string::npos);
    }
}

TEST(DoctorCli, PagemapScanFindsTheWrittenPage) {
    // Old kernels have no ioctl on pagemap at all (ENOTTY); new ones reject
    // this empty argument (EINVAL).
    int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(pagemap, 0);
    pm_scan_arg empty{};
    int rc = ::ioctl(pagemap, PAGEMAP_SCAN, &empty);
    int err = errno;
    ::close(pagemap);
    if (rc < 0 && err == ENOTTY) GTEST_SKIP() << "this kernel has no PAGEMAP_SCAN (Linux 6.7+)";

    const json* scan = json_feature(dtrack::feature_id::pagemap_scan);
    ASSERT_NE(scan, nullptr);
    EXPECT_TRUE(scan->at("available")) << scan->at("reason");
    const json* uffd = json_feature(dtrack::feature_id::userfaultfd_wp_async);
    ASSERT_NE(uffd, nullptr);
    EXPECT_TRUE(uffd->at("available")) << uffd->at("reason");
}

TEST(DoctorCli, TracepointProgramsLoadAndAttach) {
    bool privileged = (has_capability(39) && has_capability(38)) || has_capability(21);  // BPF, PERFMON, SYS_ADMIN
    if (!privileged) GTEST_SKIP() << "needs root or CAP_BPF+CAP_PERFMON";
    for (std::string_view id : {dtrack::feature_id::bpf_tracepoint, dtrack::feature_id::bpf_raw_tracepoint}) {
        const json* f = json_feature(id);
        ASSERT_NE(f, nullptr) << id;
        EXPECT_TRUE(f->at("available")) << id << ": " << f->at("reason");
    }
}

TEST(DoctorCli, FentryRefusedOnPvmHostsWithAReason) {
    const json* fentry = json_feature(dtrack::feature_id::bpf_fentry);
    ASSERT_NE(fentry, nullptr);
    if (!is_pvm_host()) {
        // Elsewhere fentry may well work; either way the entry explains itself.
        if (!fentry->at("available")) {
            EXPECT_FALSE(fentry->at("reason").get<std::string>().empty());
        }
        GTEST_SKIP() << "not a PVM host: fentry's availability is not known in advance";
    }
    EXPECT_FALSE(fentry->at("available"));
    EXPECT_NE(fentry->at("reason").get<std::string>().find("EPERM"), std::string::npos) << fentry->at("reason");
}

// --- library and CLI agree ---------------------------------------------------

TEST(DoctorLibrary, ProbeFeaturesAgreesWithTheCli) {
    auto features = dtrack::probe_features();
    ASSERT_TRUE(features.ok()) << features.error().message();
    const json& cli = doctor_json().at("features");
    ASSERT_EQ(features->size(), cli.size());
    for (std::size_t i = 0; i < cli.size(); ++i) {
        const dtrack::Feature& lib = (*features)[i];
        SCOPED_TRACE(lib.id);
        EXPECT_EQ(lib.id, dtrack::feature_id::all[i]);
        EXPECT_EQ(lib.id, cli[i].at("id"));
        EXPECT_EQ(lib.name, cli[i].at("name"));
        EXPECT_EQ(lib.available, cli[i].at("available"));
        EXPECT_EQ(lib.detail, cli[i].at("detail"));
        EXPECT_EQ(lib.enables, cli[i].at("enables"));
        EXPECT_EQ(lib.reason, cli[i].at("reason"));
        EXPECT_EQ(lib.fix, cli[i].at("fix"));
        EXPECT_EQ(lib.note, cli[i].at("note"));
    }
    ASSERT_NE(dtrack::find_feature(*features, dtrack::feature_id::kvm_dirty_ring), nullptr);
    EXPECT_EQ(dtrack::find_feature(*features, "no_such_feature"), nullptr);
}

// Every entry points at a note that exists (when the source tree is here).
TEST(DoctorNotes, EveryEntryPointsToAnExistingNote) {
    fs::path repo = fs::path(DTRACK_BUILD_DIR).parent_path();
    if (!fs::exists(repo / "kconfig-notes/README.md")) repo = fs::current_path();
    if (!fs::exists(repo / "kconfig-notes/README.md"))
        GTEST_SKIP() << "kconfig-notes/ not found next to the build directory or here";
    for (const json& f : doctor_json().at("features"))
        EXPECT_TRUE(fs::exists(repo / f.at("note").get<std::string>())) << f.at("note");
}

// --- the table and the command line ------------------------------------------

TEST(DoctorCli, TableFitsEightyColumnsAndListsEveryMechanism) {
    CommandResult r = run(dtrack_binary + " doctor");
    ASSERT_EQ(r.exit_code, 0);
    std::istringstream lines(r.output);
    std::string line;
    while (std::getline(lines, line)) EXPECT_LE(line.size(), 80u) << line;
    for (const json& f : doctor_json().at("features")) {
        // Long names wrap in their column; their first word is always there.
        std::string first_word = f.at("name").get<std::string>();
        first_word = first_word.substr(0, first_word.find(' '));
        EXPECT_NE(r.output.find(first_word), std::string::npos) << first_word;
    }
    EXPECT_NE(r.output.find("mechanisms available"), std::string::npos);
}

TEST(DoctorCli, SaysWhichFigureEachKindOfVmmGetsOnThisKernel) {
    const json& views = doctor_json().at("vmm_views");
    for (const char* key : {"dirty_ring", "dirty_bitmap", "logging_state", "other"})
        EXPECT_FALSE(views.at(key).at("figure").get<std::string>().empty()) << key;
    // What the probes found decides it.
    const auto available = [](const char* id) {
        for (const json& f : doctor_json().at("features"))
            if (f.at("id") == id) return f.at("available").get<bool>();
        return false;
    };
    const std::string bitmap = views.at("dirty_bitmap").at("figure");
    EXPECT_EQ(bitmap.rfind("exact while it logs", 0) == 0, available("bpf_iterator")) << bitmap;
    CommandResult r = run(dtrack_binary + " doctor");
    EXPECT_NE(r.output.find("Watching another VMM"), std::string::npos) << r.output;
}

TEST(DoctorCli, UnknownOptionExitsWithTwoAndSaysWhy) {
    // stderr only: 2>&1 first, then stdout to /dev/null.
    CommandResult bogus = run(dtrack_binary + " --bogus 2>&1 >/dev/null");
    EXPECT_EQ(bogus.exit_code, 2);
    EXPECT_NE(bogus.output.find("--bogus"), std::string::npos) << bogus.output;

    CommandResult unknown = run(dtrack_binary + " frobnicate 2>&1 >/dev/null");
    EXPECT_EQ(unknown.exit_code, 2);
    EXPECT_NE(unknown.output.find("frobnicate"), std::string::npos) << unknown.output;

    CommandResult bad_flag = run(dtrack_binary + " doctor --jsn 2>&1 >/dev/null");
    EXPECT_EQ(bad_flag.exit_code, 2);
    EXPECT_NE(bad_flag.output.find("--jsn"), std::string::npos) << bad_flag.output;

    CommandResult nothing = run(dtrack_binary + " 2>&1 >/dev/null");
    EXPECT_EQ(nothing.exit_code, 2);
    EXPECT_FALSE(nothing.output.empty());
}

TEST(DoctorCli, HelpListsTheSubcommands) {
    CommandResult help = run(dtrack_binary + " --help");
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.output.find("doctor"), std::string::npos) << help.output;
}

}  // namespace
