// The state-aware method's decision: the kernel's figure only while the VM
// logs into the rings dtrack watches, page hashing otherwise, and a figure
// the user insisted on labelled when it reads low.
#include <gtest/gtest.h>

#include "dtrack/dirty_figure.hpp"

namespace {

using dtrack::choose_dirty_figure;
using dtrack::DirtyFigure;
using dtrack::DirtyLogging;
using dtrack::FigureInputs;
using dtrack::LoggingEvidence;
using dtrack::MeasureMethod;

// A dirty-ring VMM watched by BPF and sampled, as `dtrack rate` sets it up.
FigureInputs ring_vm(DirtyLogging logging) {
    return {.asked = MeasureMethod::automatic,
            .kernel_view = dtrack::KernelView::ring,
            .sampling = true,
            .evidence = LoggingEvidence::kernel,
            .logging = logging,
            .logging_at_start = logging,
            .memslots_logging = logging == DirtyLogging::off ? 0u : 3u};
}

TEST(DirtyFigure, AutoTakesTheRingPushesWhileEveryWritableMemslotLogsIntoTheRings) {
    const auto c = choose_dirty_figure(ring_vm(DirtyLogging::ring));
    EXPECT_EQ(c.figure, DirtyFigure::vmm_dirty);
    EXPECT_TRUE(c.trusted);
    EXPECT_NE(c.why.find("3 memslots"), std::string::npos) << c.why;
}

TEST(DirtyFigure, AutoNeverCallsAVmThatIsNotLoggingExactFromItsRingsButHashesPages) {
    const auto c = choose_dirty_figure(ring_vm(DirtyLogging::off));
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("not logging"), std::string::npos) << c.why;
}

TEST(DirtyFigure, AnIntervalInWhichLoggingStartedOrStoppedIsHashedBothWays) {
    FigureInputs in = ring_vm(DirtyLogging::ring);
    in.logging_at_start = DirtyLogging::off;  // a migration began in it
    auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("changed during the interval (off to ring)"), std::string::npos) << c.why;
    in = ring_vm(DirtyLogging::off);
    in.logging_at_start = DirtyLogging::ring;  // and ended
    EXPECT_EQ(choose_dirty_figure(in).figure, DirtyFigure::written);
}

TEST(DirtyFigure, AutoHashesPagesWhenSomeWritableMemslotDoesNotLog) {
    FigureInputs in = ring_vm(DirtyLogging::ring);
    in.memslots_not_logging = 1;
    const auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("1 writable memslots"), std::string::npos) << c.why;
}

TEST(DirtyFigure, AutoHashesPagesForABitmapVmWhoseBitmapsAreNotWatchedAndSaysWhy) {
    const auto c = choose_dirty_figure(ring_vm(DirtyLogging::bitmap));
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("logs into dirty bitmaps, and dtrack watches its dirty rings"), std::string::npos) << c.why;
}

TEST(DirtyFigure, AutoTakesTheBitmapsNewBitsWhileTheVmLogsIntoTheBitmapsDtrackWatches) {
    FigureInputs in = ring_vm(DirtyLogging::bitmap);
    in.kernel_view = dtrack::KernelView::bitmap;
    in.logging_at_start = DirtyLogging::bitmap;
    auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::vmm_dirty);
    EXPECT_TRUE(c.trusted);
    EXPECT_NE(c.why.find("dirty bitmaps"), std::string::npos) << c.why;
    in.logging = DirtyLogging::off;
    in.memslots_logging = 0;
    EXPECT_EQ(choose_dirty_figure(in).figure, DirtyFigure::written);
}

TEST(DirtyFigure, AskingForTheKernelsEventsOnAVmThatIsNotLoggingKeepsThemButMarksThemUntrusted) {
    FigureInputs in = ring_vm(DirtyLogging::off);
    in.asked = MeasureMethod::kernel_events;
    const auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::vmm_dirty);
    EXPECT_FALSE(c.trusted);
    EXPECT_EQ(c.why.rfind("reads low: ", 0), 0u) << c.why;
    in.logging = in.logging_at_start = DirtyLogging::ring;
    in.memslots_logging = 2;
    EXPECT_TRUE(choose_dirty_figure(in).trusted);
}

TEST(DirtyFigure, AskingForSamplingAlwaysGivesTheWrittenFigure) {
    FigureInputs in = ring_vm(DirtyLogging::ring);
    in.asked = MeasureMethod::sample;
    EXPECT_EQ(choose_dirty_figure(in).figure, DirtyFigure::written);
}

TEST(DirtyFigure, WithoutTheKernelsStateRingPushesAreTheOnlyEvidenceOfLoggingAndSaySo) {
    FigureInputs in = ring_vm(DirtyLogging::off);
    in.evidence = LoggingEvidence::inferred;
    in.kernel_pages = 0;
    auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("inferred"), std::string::npos) << c.why;
    in.kernel_pages = 10;
    c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::vmm_dirty);
    EXPECT_NE(c.why.find("inferred"), std::string::npos) << c.why;
}

TEST(DirtyFigure, AProcessWithoutAVmIsHashedAndWithoutSamplingTheFigureIsUntrusted) {
    FigureInputs in{.asked = MeasureMethod::automatic, .sampling = true, .evidence = LoggingEvidence::none};
    auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("no KVM VM"), std::string::npos) << c.why;
    in.sampling = false;
    EXPECT_FALSE(choose_dirty_figure(in).trusted);
}

TEST(DirtyFigure, ARingVmThatBpfCannotWatchIsHashedAndTheReasonSaysNothingWatchesIt) {
    FigureInputs in = ring_vm(DirtyLogging::ring);
    in.kernel_view = dtrack::KernelView::none;
    const auto c = choose_dirty_figure(in);
    EXPECT_EQ(c.figure, DirtyFigure::written);
    EXPECT_NE(c.why.find("dtrack watches no kernel record of it"), std::string::npos) << c.why;
}

}  // namespace
