// WorkloadCursor: which page a vCPU writes next, as guest.S decides it.
//
// The process backend's vCPUs run this instead of guest.S, from the same
// parameter page (workload_params.cpp fills it for both backends), so a seed
// writes the same pages in the same order on both: sequential sweeps the
// part and wraps; random takes xorshift64 and maps it onto the part with a
// 64x64->128 multiply (the high half); hotcold splits the random number, the
// high 32 bits against the hot threshold, the low 32 bits for the page within
// the chosen side. WorkloadCursor.PagesWrittenAreTheCursorsFirstPages checks that they agree.
#pragma once

#include <cstdint>

#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/guest_layout.hpp"
#include "dtvm/guest/param_page.hpp"

namespace dtvm {

class WorkloadCursor {
public:
    explicit WorkloadCursor(const ParamPage& p)
        : part_gpa_(p.read(guest_abi::kParamPartGpa)),
          part_pages_(p.read(guest_abi::kParamPartPages)),
          pattern_(p.read(guest_abi::kParamPattern)),
          hot_pages_(p.read(guest_abi::kParamHotPages)),
          hot_threshold_(p.read(guest_abi::kParamHotThreshold)),
          rng_(p.read(guest_abi::kParamRngSeed)) {}

    // Guest-physical address of the next page to stamp.
    uint64_t next_gpa() { return part_gpa_ + (next_index() << kPageShift); }

private:
    uint64_t next_index() {
        switch (pattern_) {
            case guest_abi::kPatternRandom:
                return static_cast<uint64_t>((unsigned __int128)xorshift64() * part_pages_ >> 64);
            case guest_abi::kPatternHotCold: {
                const uint64_t r = xorshift64();
                const uint64_t low = r & 0xffffffffu;
                if ((r >> 32) < hot_threshold_) return hot_pages_ * low >> 32;
                return hot_pages_ + ((part_pages_ - hot_pages_) * low >> 32);
            }
            default: {  // sequential
                const uint64_t i = sequential_next_;
                sequential_next_ = i + 1 == part_pages_ ? 0 : i + 1;
                return i;
            }
        }
    }

    uint64_t xorshift64() {
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        return rng_;
    }

    uint64_t part_gpa_, part_pages_, pattern_, hot_pages_, hot_threshold_, rng_;
    uint64_t sequential_next_ = 0;
};

}  // namespace dtvm
