// dtrack's hash is libxxhash's XXH3 (dtrack/hash.hpp says why).
#include "dtrack/hash.hpp"

#include <xxhash.h>
#if defined(__x86_64__)
// Debian builds libxxhash for baseline x86-64 (SSE2), where XXH3 is no faster
// than XXH64; its dispatcher picks AVX2 or AVX-512 where the CPU has them
// (about twice the speed on the project's machines). Same values either way.
#include <xxh_x86dispatch.h>
#endif

namespace dtrack {

uint64_t xxh3_64(const void* data, size_t size) { return XXH3_64bits(data, size); }

}  // namespace dtrack
