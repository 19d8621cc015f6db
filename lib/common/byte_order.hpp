// Little-endian fields and zlib's CRC-32, for the on-disk and on-wire formats
// (the precopy stream, recordings): one copy of the byte shuffling.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <span>

namespace dtrack::bytes {

inline void put16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v);
    p[1] = static_cast<uint8_t>(v >> 8);
}
inline void put32(uint8_t* p, uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void put64(uint8_t* p, uint64_t v) {
    for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }
inline uint32_t get32(const uint8_t* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = v << 8 | p[i];
    return v;
}
inline uint64_t get64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

// zlib's crc32 (IEEE polynomial, initial value 0), in chunks zlib's uInt can take.
inline uint32_t crc(std::span<const uint8_t> b) {
    uLong c = crc32(0, nullptr, 0);
    while (!b.empty()) {
        const size_t n = b.size() < (1u << 30) ? b.size() : (1u << 30);
        c = crc32(c, b.data(), static_cast<uInt>(n));
        b = b.subspan(n);
    }
    return static_cast<uint32_t>(c);
}

}  // namespace dtrack::bytes
