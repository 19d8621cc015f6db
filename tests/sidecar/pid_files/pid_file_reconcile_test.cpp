// Which pid-file targets to attach, detach or refuse (pid_file_reconcile.cpp),
// on plain maps: the files against the targets, at start and after events
// were lost, one process measured once, and --max-targets.
#include <gtest/gtest.h>

#include <random>

#include "sidecar/pid_files/pid_file_reconcile.hpp"

using namespace dtrack::cli::sidecar;

namespace {

using Attach = std::vector<std::pair<std::string, pid_t>>;
using Names = std::vector<std::string>;

ReconcileInput input(TargetPids files, TargetPids attached = {}, size_t max_targets = 256) {
    return {.files = std::move(files), .attached = std::move(attached), .max_targets = max_targets};
}

// The pid-file targets once `plan` is applied to `attached`.
TargetPids applied(TargetPids attached, const ReconcilePlan& plan) {
    for (const std::string& name : plan.detach) attached.erase(name);
    for (const auto& [name, pid] : plan.attach) attached[name] = pid;
    return attached;
}

TEST(PidFileReconcile, AtStartEveryFileIsAttached) {
    const ReconcilePlan plan = reconcile(input({{"vm1", 10}, {"vm2", 20}}));
    EXPECT_EQ(plan.attach, (Attach{{"vm1", 10}, {"vm2", 20}}));
    EXPECT_TRUE(plan.detach.empty());
    EXPECT_TRUE(plan.refused.empty());
}

TEST(PidFileReconcile, AFileGoneDetachesANewPidReplacesAndAnUnchangedOneStays) {
    const ReconcilePlan plan =
        reconcile(input({{"moved", 31}, {"same", 40}}, {{"gone", 20}, {"moved", 30}, {"same", 40}}));
    EXPECT_EQ(plan.detach, Names{"gone"});
    EXPECT_EQ(plan.attach, (Attach{{"moved", 31}})) << "attached again, replacing pid 30";
    EXPECT_TRUE(plan.refused.empty());
}

// The case after an overflow: of 1000 files, 397 were never
// attached, and 603 targets stayed whose file is gone. Seeded.
TEST(PidFileReconcile, AfterLostEventsOnePlanMakesTheTargetsThePidFilesPresent) {
    std::mt19937 random(21);
    TargetPids files, attached;
    for (pid_t pid = 1000; pid < 2000; ++pid) {
        const std::string name = "vm" + std::to_string(pid);
        const bool written = random() % 2, was_attached = random() % 2;
        if (written) files[name] = pid;
        if (was_attached) attached[name] = written && random() % 4 == 0 ? pid + 5000 : pid;  // some with an old PID
    }
    const ReconcilePlan plan = reconcile(input(files, attached, 2000));
    EXPECT_EQ(applied(attached, plan), files);
    EXPECT_TRUE(plan.refused.empty());
    EXPECT_TRUE(reconcile(input(files, files, 2000)).attach.empty()) << "and then nothing more to do";
}

TEST(PidFileReconcile, ManyFilesNamingOneProcessAttachItOnceUnderTheFirstName) {
    TargetPids files;
    for (int i = 0; i < 1000; ++i) files["dup-" + std::to_string(1000 + i)] = 7;
    const ReconcilePlan plan = reconcile(input(files));
    EXPECT_EQ(plan.attach, (Attach{{"dup-1000", 7}}));
    ASSERT_EQ(plan.refused.size(), 999u);
    for (const Refusal& r : plan.refused) {
        EXPECT_EQ(r.why, PidFileSkip::duplicate);
        EXPECT_EQ(r.holder, "dup-1000");
    }
}

TEST(PidFileReconcile, TheTargetAttachedFirstKeepsThePidAndWhenItGoesTheNextNameTakesIt) {
    // "b" was attached first; "a" came later naming the same process.
    const ReconcilePlan later = reconcile(input({{"a", 7}, {"b", 7}}, {{"b", 7}}));
    EXPECT_TRUE(later.attach.empty());
    EXPECT_EQ(later.refused, (std::vector<Refusal>{{"a", 7, PidFileSkip::duplicate, "b"}}));

    const ReconcilePlan gone = reconcile(input({{"a", 7}}, {{"b", 7}}));
    EXPECT_EQ(gone.detach, Names{"b"});
    EXPECT_EQ(gone.attach, (Attach{{"a", 7}}));
}

TEST(PidFileReconcile, AFileNamingAPidTargetsProcessOrNameIsADuplicate) {
    ReconcileInput in = input({{"vm1", 7}, {"sleep-9", 8}});
    in.others = {{"sleep-9", 9}, {"sleep-7", 7}};
    const ReconcilePlan plan = reconcile(in);
    EXPECT_TRUE(plan.attach.empty());
    EXPECT_EQ(plan.refused, (std::vector<Refusal>{{"sleep-9", 8, PidFileSkip::duplicate, "sleep-9"},
                                                  {"vm1", 7, PidFileSkip::duplicate, "sleep-7"}}));
}

TEST(PidFileReconcile, BeyondMaxTargetsFilesWaitAndTheAttachedKeepTheirPlaces) {
    ReconcileInput in = input({{"a", 1}, {"b", 2}, {"z", 26}}, {{"z", 26}}, 3);
    in.others = {{"sleep-9", 9}};  // --pid targets count
    const ReconcilePlan plan = reconcile(in);
    EXPECT_EQ(plan.attach, (Attach{{"a", 1}}));
    EXPECT_EQ(plan.refused, (std::vector<Refusal>{{"b", 2, PidFileSkip::max_targets, ""}}));

    in.others.clear();  // the --pid target exited: a place for b
    in.attached = {{"a", 1}, {"z", 26}};
    EXPECT_EQ(reconcile(in).attach, (Attach{{"b", 2}}));
}

TEST(PidFileReconcile, ARenamedPidBeyondTheLimitDetachesTheOldOne) {
    const ReconcilePlan plan = reconcile(input({{"a", 1}, {"b", 3}}, {{"a", 1}, {"b", 2}}, 1));
    EXPECT_EQ(plan.detach, Names{"b"}) << "its file names pid 3 now, which has no place";
    EXPECT_EQ(plan.refused, (std::vector<Refusal>{{"b", 3, PidFileSkip::max_targets, ""}}));
}

// A PID tried and failed, or whose process exited, is not tried again (it
// may be another process by then) until the file names another PID.
TEST(PidFileReconcile, ASettledPidIsNotTriedAgainUntilItsFileNamesAnother) {
    ReconcileInput in = input({{"vm1", 10}, {"vm2", 21}}, {{"vm2", 20}});
    in.settled = {{"vm1", 10}, {"vm2", 21}};
    const ReconcilePlan plan = reconcile(in);
    EXPECT_TRUE(plan.attach.empty());
    EXPECT_TRUE(plan.refused.empty());
    EXPECT_EQ(plan.detach, Names{"vm2"}) << "its file no longer names pid 20";

    in.files["vm1"] = 11;
    EXPECT_EQ(reconcile(in).attach, (Attach{{"vm1", 11}}));
}

}  // namespace
