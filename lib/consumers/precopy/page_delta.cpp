// Encoding and applying page deltas (format: page_delta.hpp).
#include "consumers/precopy/page_delta.hpp"

#include <bit>
#include <cstring>
#include <string>

namespace dtrack::precopy::delta {

namespace {

constexpr size_t max_varint_bytes = 4;  // 28 bits: more than any page size (2 MiB)
constexpr uint64_t low_bytes = 0x0101010101010101ULL, high_bits = 0x8080808080808080ULL;

uint64_t load(const uint8_t* p) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    return w;
}

// The first index from `at` where the pages differ (`differ`) or agree, or `n`.
size_t first_differing(const uint8_t* a, const uint8_t* b, size_t at, size_t n) {
    for (; at + 8 <= n; at += 8)
        if (const uint64_t x = load(a + at) ^ load(b + at)) return at + std::countr_zero(x) / 8;
    while (at < n && a[at] == b[at]) ++at;
    return at;
}
size_t first_agreeing(const uint8_t* a, const uint8_t* b, size_t at, size_t n) {
    for (; at + 8 <= n; at += 8) {
        const uint64_t x = load(a + at) ^ load(b + at);
        // The lowest set bit marks the first zero byte of x exactly.
        if (const uint64_t zero = (x - low_bytes) & ~x & high_bits) return at + std::countr_zero(zero) / 8;
    }
    while (at < n && a[at] != b[at]) ++at;
    return at;
}

size_t varint_size(uint64_t v) { return v < (1u << 7) ? 1 : v < (1u << 14) ? 2 : v < (1u << 21) ? 3 : 4; }

uint8_t* put_varint(uint8_t* out, uint64_t v) {
    while (v >= 0x80) {
        *out++ = static_cast<uint8_t>(v | 0x80);
        v >>= 7;
    }
    *out++ = static_cast<uint8_t>(v);
    return out;
}

Error malformed(size_t at, const std::string& what) {
    return Error{0, "malformed page delta at byte " + std::to_string(at) + ": " + what, ""};
}

// Reads one varint at `at` (advancing it); errors for truncated, overlong
// (not the shortest form, or longer than 4 bytes) and values beyond the page.
Result<uint64_t> read_varint(std::span<const uint8_t> d, size_t& at, size_t page_size, const char* what) {
    const size_t start = at;
    uint64_t v = 0;
    for (size_t i = 0;; ++i) {
        if (at == d.size())
            return malformed(start, std::string("the ") + what + " length is cut off (truncated varint)");
        if (i == max_varint_bytes)
            return malformed(start, std::string("the ") + what + " length is longer than " +
                                        std::to_string(max_varint_bytes) + " bytes (overlong varint)");
        const uint8_t b = d[at++];
        v |= uint64_t(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (b == 0 && i > 0)
                return malformed(start,
                                 std::string("the ") + what + " length is not in its shortest form (overlong varint)");
            break;
        }
    }
    if (v > page_size)
        return malformed(start, std::string("the ") + what + " length " + std::to_string(v) + " exceeds the page of " +
                                    std::to_string(page_size) + " bytes");
    return v;
}

}  // namespace

std::optional<size_t> encode(std::span<const uint8_t> before, std::span<const uint8_t> now, std::span<uint8_t> out) {
    const size_t n = now.size(), limit = out.size();
    const uint8_t *a = before.data(), *b = now.data();
    size_t pos = 0, written = 0;
    for (;;) {
        const size_t changed = first_differing(a, b, pos, n);
        if (changed == n) return written;  // the rest is unchanged
        // The changed run goes on across unchanged stretches too short to split it.
        size_t end = changed + 1;
        for (;;) {
            end = first_agreeing(a, b, end, n);
            if (written + (end - changed) > limit) return std::nullopt;  // cannot fit: stop early
            if (end == n) break;
            const size_t next = first_differing(a, b, end, std::min(n, end + min_unchanged_run));
            if (next - end >= min_unchanged_run || next == n) break;
            end = next;
        }
        const size_t run = end - changed;
        const size_t need = varint_size(changed - pos) + varint_size(run) + run;
        if (written + need > limit) return std::nullopt;
        uint8_t* p = put_varint(out.data() + written, changed - pos);
        p = put_varint(p, run);
        std::memcpy(p, b + changed, run);
        written += need;
        pos = end;
    }
}

Status check(std::span<const uint8_t> d, size_t page_size) {
    size_t at = 0, pos = 0;
    while (at < d.size()) {
        const size_t pair = at;
        auto unchanged = read_varint(d, at, page_size, "unchanged run");
        if (!unchanged) return unchanged.error();
        if (*unchanged == 0 && pair != 0)
            return malformed(pair, "an empty unchanged run between two changed runs (they would be one)");
        if (at == d.size()) return malformed(pair, "trailing bytes: an unchanged run with no changed run after it");
        const size_t run_at = at;
        auto changed = read_varint(d, at, page_size, "changed run");
        if (!changed) return changed.error();
        if (*changed == 0) return malformed(run_at, "an empty changed run");
        if (pos + *unchanged + *changed > page_size)
            return malformed(pair, "the runs reach byte " + std::to_string(pos + *unchanged + *changed) +
                                       ", beyond the page of " + std::to_string(page_size) + " bytes");
        if (d.size() - at < *changed)
            return malformed(at, "the changed run of " + std::to_string(*changed) + " bytes has only " +
                                     std::to_string(d.size() - at) + " (truncated)");
        at += *changed;
        pos += *unchanged + *changed;
    }
    return Ok{};
}

Status apply(std::span<const uint8_t> d, std::span<uint8_t> page) {
    if (Status s = check(d, page.size()); !s) return s;
    size_t at = 0, pos = 0;
    auto varint = [&] {
        uint64_t v = 0;
        for (int shift = 0;; shift += 7) {
            const uint8_t b = d[at++];
            v |= uint64_t(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
    };
    while (at < d.size()) {
        pos += varint();
        const uint64_t run = varint();
        std::memcpy(page.data() + pos, d.data() + at, run);
        at += run;
        pos += run;
    }
    return Ok{};
}

}  // namespace dtrack::precopy::delta
