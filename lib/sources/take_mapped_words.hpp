// Taking a BPF program's dirty words through a shared mapping into a
// tracker's bitmap: an atomic exchange per non-zero word. The program's
// atomic OR and this exchange act on the same word, so a bit is either taken
// now or stays for the next harvest. Shared by the BPF sources (BpfSource,
// BpfBitmapSource). Internal to lib/.
#pragma once

#include <bit>
#include <cstdint>

#include "dtrack/dirty_bitmap.hpp"

namespace dtrack {

struct TakenWords {
    uint64_t pages = 0;      // bits taken
    uint64_t new_dirty = 0;  // of those, pages that were clean in the bitmap
};

inline TakenWords take_mapped_words(uint64_t* words, uint64_t count, DirtyBitmap& bitmap) {
    TakenWords taken;
    for (uint64_t i = 0; i < count; ++i) {
        // A plain read first: most words are clean, and the exchange is a locked write.
        if (__atomic_load_n(&words[i], __ATOMIC_RELAXED) == 0) continue;
        const uint64_t bits = __atomic_exchange_n(&words[i], 0, __ATOMIC_ACQ_REL);
        taken.pages += std::popcount(bits);
        taken.new_dirty += bitmap.or_words(i, {&bits, 1});
    }
    return taken;
}

}  // namespace dtrack
