// PageFill: the random words a writer puts in a page before its stamp, as
// guest.S's STAMP_PAGE writes them (--write-bytes).
//
// A page write rewrites kParamWriteWords 8-byte words: words write_words-1
// down to 1, each the next number of a xorshift64 of its own (seeded from
// kParamFillSeed, so the pages WorkloadCursor picks do not depend on the
// write size), then the stamp at offset 0, which the caller stores with one
// aligned 8-byte store. The process backend's vCPUs run this; the KVM guest
// runs the same steps in assembly, so one seed fills the same words on both.
#pragma once

#include <atomic>
#include <cstdint>

#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/param_page.hpp"

namespace dtvm {

class PageFill {
public:
    explicit PageFill(const ParamPage& p)
        : words_(p.read(guest_abi::kParamWriteWords)), rng_(p.read(guest_abi::kParamFillSeed)) {}

    // Words write_words-1 .. 1 of the page at `page`, last first.
    void fill(uint8_t* page) {
        auto* words = reinterpret_cast<uint64_t*>(page);
        for (uint64_t i = words_; i-- > 1;)
            std::atomic_ref<uint64_t>(words[i]).store(next(), std::memory_order_relaxed);
    }

    // The fill's next number: xorshift64, as guest.S's XORSHIFT64.
    uint64_t next() {
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        return rng_;
    }

    uint64_t words() const { return words_; }

private:
    uint64_t words_, rng_;
};

}  // namespace dtvm
