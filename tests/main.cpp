// GoogleTest main for the whole suite. Prints which dtvm backends ran, then
// one closing line that CI reads:
//   dtvm backends: process ran N tests, kvm ran N tests   (or: kvm skipped (why))
//   tests: N passed, N failed, N skipped
#include <gtest/gtest.h>

#include <cstdio>

#include "support/backends.hpp"

namespace {

class ClosingLine : public testing::EmptyTestEventListener {
    void OnTestProgramEnd(const testing::UnitTest& u) override {
        std::printf("%s\n", dtrack_test::backends_summary().c_str());
        std::printf("tests: %d passed, %d failed, %d skipped\n", u.successful_test_count(), u.failed_test_count(),
                    u.skipped_test_count());
        std::fflush(stdout);
    }
};

}  // namespace

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    testing::UnitTest::GetInstance()->listeners().Append(new ClosingLine);
    return RUN_ALL_TESTS();
}
