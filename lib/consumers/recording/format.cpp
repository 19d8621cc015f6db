// Encoding and validating recordings (format: docs/recording-format.md).
#include "consumers/recording/format.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/byte_order.hpp"
#include "dtrack/units.hpp"

namespace dtrack::recording::format {

namespace {

using bytes::crc;
using bytes::get16;
using bytes::get32;
using bytes::get64;
using bytes::put16;
using bytes::put32;
using bytes::put64;

void append(std::vector<uint8_t>& out, const void* p, size_t n) {
    const auto* b = static_cast<const uint8_t*>(p);
    out.insert(out.end(), b, b + n);
}
void append32(std::vector<uint8_t>& out, uint32_t v) {
    uint8_t b[4];
    put32(b, v);
    append(out, b, 4);
}
void append64(std::vector<uint8_t>& out, uint64_t v) {
    uint8_t b[8];
    put64(b, v);
    append(out, b, 8);
}
void append_text(std::vector<uint8_t>& out, const std::string& s) {
    const size_t n = std::min<size_t>(s.size(), max_text_bytes);
    uint8_t b[2];
    put16(b, static_cast<uint16_t>(n));
    append(out, b, 2);
    append(out, s.data(), n);
}
uint64_t bits_of(double d) { return std::bit_cast<uint64_t>(d); }

uint64_t words_of(const Region& r) { return (r.page_count + 63) / 64; }

}  // namespace

std::vector<uint8_t> encode_normal_body(const Interval& in, const Header& h);

namespace {

// A reader over a span that remembers the first problem.
struct Cursor {
    std::span<const uint8_t> b;
    size_t at = 0;
    bool need(size_t n, const char* what, std::string& problem) {
        if (b.size() - at >= n) return true;
        problem = std::string("ends inside ") + what;
        return false;
    }
    uint8_t u8() { return b[at++]; }
    uint16_t u16() {
        const uint16_t v = get16(&b[at]);
        at += 2;
        return v;
    }
    uint32_t u32() {
        const uint32_t v = get32(&b[at]);
        at += 4;
        return v;
    }
    uint64_t u64() {
        const uint64_t v = get64(&b[at]);
        at += 8;
        return v;
    }
};

bool read_text(Cursor& c, const char* name, std::string& out, std::string& problem) {
    if (!c.need(2, name, problem)) return false;
    const uint16_t n = c.u16();
    if (n > max_text_bytes) {
        problem =
            std::string(name) + " is " + std::to_string(n) + " bytes long, more than " + std::to_string(max_text_bytes);
        return false;
    }
    if (!c.need(n, name, problem)) return false;
    out.assign(reinterpret_cast<const char*>(&c.b[c.at]), n);
    c.at += n;
    return true;
}

}  // namespace

std::vector<uint8_t> encode_header_body(const Header& h) {
    std::vector<uint8_t> out;
    append32(out, h.vcpus);
    append32(out, static_cast<uint32_t>(h.regions.size()));
    append64(out, h.start_unix_ns);
    append64(out, h.interval_ns);
    const uint8_t exact[4] = {uint8_t(h.exact ? 1 : 0), 0, 0, 0};
    append(out, exact, 4);
    for (const std::string* s : {&h.method, &h.target, &h.host, &h.kernel}) append_text(out, *s);
    for (const Region& r : h.regions) {
        const uint8_t space[4] = {uint8_t(r.space == AddressSpace::guest_physical ? 0 : 1), 0, 0, 0};
        append(out, space, 4);
        append32(out, r.slot);
        append64(out, r.base);
        append64(out, r.page_count);
        append32(out, static_cast<uint32_t>(r.page_size));
        append_text(out, r.name);
    }
    return out;
}

namespace {

// Version 2's logging label (docs/recording-format.md, interval bytes 76..78).
uint8_t logging_code(DirtyLogging l) { return l == DirtyLogging::off ? 0 : l == DirtyLogging::ring ? 1 : 2; }
uint8_t evidence_code(LoggingEvidence e) { return e == LoggingEvidence::inferred ? 2 : 1; }

}  // namespace

std::vector<uint8_t> encode_body(const Interval& given, const Header& h) {
    // Runs sorted by region and page, overlapping or touching ones merged:
    // the reader accepts nothing else.
    Interval in;
    const Interval* use = &given;
    const auto before = [](const PageRun& a, const PageRun& b) {
        return a.region != b.region ? a.region < b.region : a.first < b.first;
    };
    bool normal = std::is_sorted(given.dirty.begin(), given.dirty.end(), before);
    for (size_t i = 1; normal && i < given.dirty.size(); ++i)
        normal = given.dirty[i].region != given.dirty[i - 1].region ||
                 given.dirty[i].first > given.dirty[i - 1].first + given.dirty[i - 1].count;
    for (const PageRun& r : given.dirty) normal = normal && r.count > 0;
    if (!normal) {
        in = given;
        std::sort(in.dirty.begin(), in.dirty.end(), before);
        std::vector<PageRun> merged;
        for (const PageRun& r : in.dirty) {
            if (r.count == 0) continue;
            if (!merged.empty() && merged.back().region == r.region &&
                r.first <= merged.back().first + merged.back().count)
                merged.back().count =
                    std::max(merged.back().first + merged.back().count, r.first + r.count) - merged.back().first;
            else merged.push_back(r);
        }
        in.dirty = std::move(merged);
        use = &in;
    }
    return encode_normal_body(*use, h);
}

std::vector<uint8_t> encode_normal_body(const Interval& in, const Header& h) {
    // Group the runs by region; each region becomes runs or a bitmap, whichever is smaller.
    struct Block {
        RegionId region;
        size_t first_run, end_run;
        uint64_t pages;
    };
    std::vector<Block> blocks;
    for (size_t i = 0; i < in.dirty.size(); ++i) {
        const PageRun& r = in.dirty[i];
        if (blocks.empty() || blocks.back().region != r.region) blocks.push_back({r.region, i, i, 0});
        blocks.back().end_run = i + 1;
        blocks.back().pages += r.count;
    }
    std::vector<uint8_t> out;
    out.reserve(body_fixed_bytes + 8 * in.vcpu_pages.size() + 24 * blocks.size() + 16 * in.dirty.size());
    append64(out, in.index);
    append64(out, in.start_ns);
    append64(out, in.end_ns);
    const bool estimate = in.estimated_pages != 0 || in.bound_pages != 0;
    const uint32_t logging_flags = in.logging ? flag_logging | (in.logging->reads_low ? flag_reads_low : 0) : 0;
    append32(out, (in.dropped ? flag_dropped : 0) | (estimate ? flag_estimate : 0) | logging_flags);
    // Per-vCPU counts: exactly the header's vCPUs, or none (a source may
    // learn of vCPUs late; counts beyond the header's are not recorded).
    const uint32_t vcpus = in.vcpu_pages.empty() ? 0 : h.vcpus;
    append32(out, vcpus);
    append64(out, bits_of(in.estimated_pages));
    append64(out, bits_of(in.bound_pages));
    append64(out, in.lost);
    append64(out, in.overapproximated);
    append64(out, in.dirty_pages());
    append32(out, static_cast<uint32_t>(blocks.size()));
    // Version 2: the logging label, one byte each (logging_code, evidence_code), or 0.
    out.push_back(in.logging ? logging_code(in.logging->at_start) : 0);
    out.push_back(in.logging ? logging_code(in.logging->at_end) : 0);
    out.push_back(in.logging ? evidence_code(in.logging->evidence) : 0);
    out.push_back(0);
    for (uint32_t v = 0; v < vcpus; ++v) append64(out, v < in.vcpu_pages.size() ? in.vcpu_pages[v] : 0);
    for (const Block& b : blocks) {
        const uint64_t runs = b.end_run - b.first_run;
        const uint64_t first_word = in.dirty[b.first_run].first / 64;
        const PageRun& last = in.dirty[b.end_run - 1];
        const uint64_t words = (last.first + last.count - 1) / 64 - first_word + 1;
        const bool bitmap = 8 + 8 * words < 16 * runs;
        append32(out, b.region);
        const uint8_t enc[4] = {bitmap ? encoding_bitmap : encoding_runs, 0, 0, 0};
        append(out, enc, 4);
        append64(out, b.pages);
        append64(out, bitmap ? words : runs);
        if (!bitmap) {
            for (size_t i = b.first_run; i < b.end_run; ++i) {
                append64(out, in.dirty[i].first);
                append64(out, in.dirty[i].count);
            }
            continue;
        }
        append64(out, first_word);
        const size_t at = out.size();
        out.resize(at + 8 * words, 0);
        for (size_t i = b.first_run; i < b.end_run; ++i)
            for (uint64_t p = in.dirty[i].first; p < in.dirty[i].first + in.dirty[i].count; ++p) {
                uint8_t* w = &out[at + 8 * (p / 64 - first_word)];
                w[(p % 64) / 8] |= uint8_t(1u << (p % 8));
            }
    }
    return out;
}

bool decode_prelude(std::span<const uint8_t> b, Prelude& out, Problem& problem) {
    const size_t m = std::min(b.size(), magic.size());
    if (!std::equal(b.begin(), b.begin() + m, magic.begin())) {
        problem = {0, "not a dtrack recording (the file does not start with \"DTRACKRC\")"};
        return false;
    }
    if (b.size() < 12) {
        problem = {0, "the file ends inside its header (" + std::to_string(b.size()) + " bytes)"};
        return false;
    }
    out.version = get32(&b[8]);
    if (out.version > format_version) {
        problem = {8, "format version " + std::to_string(out.version) + " is newer than this dtrack reads (up to " +
                          std::to_string(format_version) + ")"};
        return false;
    }
    if (out.version == 0) {
        problem = {8, "format version 0 does not exist"};
        return false;
    }
    if (b.size() < prelude_bytes) {
        problem = {0, "the file ends inside its header (" + std::to_string(b.size()) + " bytes)"};
        return false;
    }
    if (get32(&b[20]) != crc(b.first(20))) {
        problem = {20, "header checksum mismatch (bytes 0..19 are corrupt)"};
        return false;
    }
    out.body_length = get32(&b[12]);
    out.body_crc = get32(&b[16]);
    if (out.body_length < header_fixed_bytes || out.body_length > max_header_bytes) {
        problem = {12, "header length " + std::to_string(out.body_length) + " is outside " +
                           std::to_string(header_fixed_bytes) + ".." + std::to_string(max_header_bytes)};
        return false;
    }
    return true;
}

bool decode_header_body(std::span<const uint8_t> body, uint64_t base, Header& h, Problem& problem) {
    Cursor c{body};
    std::string what;
    const auto fail = [&](std::string w) {
        problem = {base + c.at, "header: " + w};
        return false;
    };
    // The prelude checked the length: the fixed part is there.
    h.vcpus = c.u32();
    const uint32_t regions = c.u32();
    h.start_unix_ns = c.u64();
    h.interval_ns = c.u64();
    const uint8_t exact = c.u8();
    if (h.vcpus > max_vcpus) return fail(std::to_string(h.vcpus) + " vCPUs, more than " + std::to_string(max_vcpus));
    if (regions < 1 || regions > max_regions)
        return fail("region count " + std::to_string(regions) + " is outside 1.." + std::to_string(max_regions));
    if (exact > 1) return fail("the exact flag is " + std::to_string(exact) + ", not 0 or 1");
    if (c.u8() || c.u8() || c.u8()) return fail("reserved bytes are not zero");
    h.exact = exact == 1;
    const std::pair<const char*, std::string*> texts[] = {
        {"method", &h.method}, {"target", &h.target}, {"host", &h.host}, {"kernel", &h.kernel}};
    for (const auto& [name, field] : texts)
        if (!read_text(c, name, *field, what)) return fail(what);
    h.regions.clear();
    for (uint32_t i = 0; i < regions; ++i) {
        const std::string name = "region " + std::to_string(i);
        if (!c.need(28, name.c_str(), what)) return fail(what);
        Region r;
        const uint8_t space = c.u8();
        if (space > 1) return fail(name + ": address space " + std::to_string(space) + " is not 0 or 1");
        if (c.u8() || c.u8() || c.u8()) return fail(name + ": reserved bytes are not zero");
        r.space = space == 0 ? AddressSpace::guest_physical : AddressSpace::host_virtual;
        r.slot = c.u32();
        r.base = c.u64();
        r.page_count = c.u64();
        r.page_size = c.u32();
        if (r.page_count < 1 || r.page_count > max_region_pages)
            return fail(name + ": " + std::to_string(r.page_count) + " pages is outside 1..2^40");
        if (r.page_size < 512 || !std::has_single_bit(r.page_size))
            return fail(name + ": page size " + std::to_string(r.page_size) + " is not a power of two >= 512");
        if (r.base > ~0ULL - r.bytes() || r.page_count > ~0ULL / r.page_size)
            return fail(name + ": base + size overflows 64 bits");
        if (!read_text(c, name.c_str(), r.name, what)) return fail(what);
        h.regions.push_back(std::move(r));
    }
    if (c.at != body.size()) return fail(std::to_string(body.size() - c.at) + " bytes after the last region");
    return true;
}

void encode_frame(const Frame& f, uint8_t* out) {
    std::memcpy(out, record_magic.data(), 4);
    put32(out + 4, f.packed_length);
    put32(out + 8, f.raw_length);
    put32(out + 12, f.packed_crc);
    put32(out + 16, crc({out, 16}));
}

void append_record(std::span<const uint8_t> raw, int level, std::vector<uint8_t>& out) {
    const size_t at = out.size();
    uLongf packed = compressBound(raw.size());
    out.resize(at + frame_bytes + packed);
    uint8_t* body = &out[at + frame_bytes];
    if (compress2(body, &packed, raw.data(), raw.size(), level) != Z_OK) packed = 0;  // cannot happen: bound given
    out.resize(at + frame_bytes + packed);
    encode_frame({.packed_length = static_cast<uint32_t>(packed),
                  .raw_length = static_cast<uint32_t>(raw.size()),
                  .packed_crc = crc({body, packed})},
                 &out[at]);
}

uint64_t max_body_bytes(const Header& h) {
    uint64_t n = body_fixed_bytes + 8ULL * h.vcpus;
    for (const Region& r : h.regions) n += block_fixed_bytes + 8 + 8 * words_of(r) + 8;
    return n;
}

bool decode_frame(std::span<const uint8_t> b, uint64_t base, const Header& h, const ReadLimits& limits, Frame& f,
                  Problem& problem) {
    if (get32(&b[16]) != crc(b.first(16))) {
        problem = {base + 16, "record frame checksum mismatch"};
        return false;
    }
    if (!std::equal(record_magic.begin(), record_magic.end(), b.begin())) {
        problem = {base, "record does not start with \"INTV\""};
        return false;
    }
    f.packed_length = get32(&b[4]);
    f.raw_length = get32(&b[8]);
    f.packed_crc = get32(&b[12]);
    if (f.packed_length < 8 || f.packed_length > max_record_bytes) {
        problem = {base + 4, "compressed length " + std::to_string(f.packed_length) + " is outside 8.." +
                                 std::to_string(max_record_bytes)};
        return false;
    }
    // The writer chooses runs or a bitmap, whichever is smaller, so a body is
    // never larger than every region's whole bitmap.
    const uint64_t limit =
        std::min<uint64_t>({max_body_bytes(h), max_record_bytes, uint64_t(max_inflate_ratio) * f.packed_length + 64});
    if (f.raw_length < body_fixed_bytes || f.raw_length > limit) {
        problem = {base + 8, "body length " + std::to_string(f.raw_length) + " is outside " +
                                 std::to_string(body_fixed_bytes) + ".." + std::to_string(limit)};
        return false;
    }
    if (uint64_t(f.packed_length) + f.raw_length > limits.interval_bytes) {
        problem = {base + 4,
                   "its body of " + std::to_string(f.packed_length) + " compressed and " +
                       std::to_string(f.raw_length) + " inflated bytes is more than the " +
                       format_bytes(double(limits.interval_bytes)) + " an interval may take in memory",
                   true};
        return false;
    }
    return true;
}

namespace {

// decode_body's checks in order; `too_large` tells a limit from damage.
bool body_fields(Cursor& c, std::span<const uint8_t> raw, uint64_t expected_index, const Header& h, uint64_t max_runs,
                 Interval& in, std::string& problem, bool& too_large) {
    const auto fail = [&](std::string w) {
        problem = std::move(w);
        return false;
    };
    // More runs than the limit: the interval is not read (the runs so far are freed).
    const auto over = [&] {
        in.dirty = {};
        too_large = true;
        return fail("its pages are more than " + std::to_string(max_runs) + " runs (" +
                    std::to_string(sizeof(PageRun)) + " bytes each)");
    };
    if (raw.size() < body_fixed_bytes) return fail("the body is shorter than its fixed fields");
    in = Interval{};
    in.index = c.u64();
    in.start_ns = c.u64();
    in.end_ns = c.u64();
    const uint32_t flags = c.u32();
    const uint32_t vcpus = c.u32();
    in.estimated_pages = std::bit_cast<double>(c.u64());
    in.bound_pages = std::bit_cast<double>(c.u64());
    in.lost = c.u64();
    in.overapproximated = c.u64();
    const uint64_t pages = c.u64();
    const uint32_t blocks = c.u32();
    const uint8_t logging_start = c.u8(), logging_end = c.u8(), evidence = c.u8(), reserved = c.u8();
    if (in.index != expected_index)
        return fail("interval " + std::to_string(in.index) + " where interval " + std::to_string(expected_index) +
                    " should be");
    if (in.end_ns < in.start_ns) return fail("the interval ends before it starts");
    const uint32_t known = flag_dropped | flag_estimate | (h.version >= 2 ? flag_logging | flag_reads_low : 0);
    if (flags & ~known) return fail("unknown flags " + std::to_string(flags));
    if ((flags & flag_reads_low) && !(flags & flag_logging)) return fail("reads-low without the logging flag");
    in.dropped = flags & flag_dropped;
    for (double d : {in.estimated_pages, in.bound_pages})
        if (!std::isfinite(d) || d < 0) return fail("an estimate is negative or not a number");
    if (!(flags & flag_estimate) && (in.estimated_pages != 0 || in.bound_pages != 0))
        return fail("an estimate without the estimate flag");
    if (reserved) return fail("reserved bytes are not zero");
    if (flags & flag_logging) {
        const auto state = [](uint8_t code) -> std::optional<DirtyLogging> {
            if (code > 2) return std::nullopt;
            return code == 0 ? DirtyLogging::off : code == 1 ? DirtyLogging::ring : DirtyLogging::bitmap;
        };
        const auto start = state(logging_start), end = state(logging_end);
        if (!start || !end)
            return fail("logging state " + std::to_string(std::max(logging_start, logging_end)) +
                        " is not 0 (off), 1 (ring) or 2 (bitmap)");
        if (evidence != 1 && evidence != 2)
            return fail("logging evidence " + std::to_string(evidence) + " is not 1 (kernel) or 2 (inferred)");
        in.logging = IntervalLogging{.at_start = *start,
                                     .at_end = *end,
                                     .evidence = evidence == 1 ? LoggingEvidence::kernel : LoggingEvidence::inferred,
                                     .reads_low = (flags & flag_reads_low) != 0};
    } else if (logging_start || logging_end || evidence) {
        return fail("reserved bytes are not zero");
    }
    if (vcpus != 0 && vcpus != h.vcpus)
        return fail(std::to_string(vcpus) + " vCPU counts for a recording of " + std::to_string(h.vcpus) + " vCPUs");
    if (in.dropped && (blocks || vcpus || pages)) return fail("a dropped interval with pages");
    if (!c.need(8ULL * vcpus, "the vCPU counts", problem)) return false;
    in.vcpu_pages.resize(vcpus);
    for (uint64_t& v : in.vcpu_pages) v = c.u64();
    uint64_t total = 0;
    int64_t last_region = -1;
    for (uint32_t b = 0; b < blocks; ++b) {
        if (!c.need(block_fixed_bytes, "a region block", problem)) return false;
        const uint32_t region = c.u32();
        const uint8_t encoding = c.u8();
        if (c.u8() || c.u8() || c.u8()) return fail("reserved bytes are not zero");
        const uint64_t block_pages = c.u64();
        const uint64_t n = c.u64();
        if (region >= h.regions.size()) return fail("region " + std::to_string(region) + " is not in the header");
        if (int64_t(region) <= last_region) return fail("region blocks are not in increasing order");
        last_region = region;
        const Region& r = h.regions[region];
        const std::string where = "region " + std::to_string(region);
        uint64_t seen = 0;
        if (encoding == encoding_runs) {
            if (n == 0 || n > (raw.size() - c.at) / 16)
                return fail(where + ": run count " + std::to_string(n) + " does not fit");
            uint64_t end = 0;
            for (uint64_t i = 0; i < n; ++i) {
                const uint64_t first = c.u64(), count = c.u64();
                if (count == 0 || first >= r.page_count || count > r.page_count - first)
                    return fail(where + ": run of " + std::to_string(count) + " pages at page " +
                                std::to_string(first) + " is outside its " + std::to_string(r.page_count) + " pages");
                if (i > 0 && first <= end) return fail(where + ": runs overlap, touch or are out of order");
                end = first + count;
                if (in.dirty.size() >= max_runs) return over();
                in.dirty.push_back({region, first, count});
                seen += count;
            }
        } else if (encoding == encoding_bitmap) {
            if (!c.need(8, "a bitmap", problem)) return false;
            const uint64_t first_word = c.u64();
            const uint64_t words = words_of(r);
            if (n == 0 || first_word >= words || n > words - first_word || n > (raw.size() - c.at) / 8)
                return fail(where + ": bitmap of " + std::to_string(n) + " words at word " +
                            std::to_string(first_word) + " does not fit");
            for (uint64_t i = 0; i < n; ++i) {
                uint64_t bits = c.u64();
                const uint64_t w = first_word + i;
                if (w + 1 == words && r.page_count % 64 && (bits >> (r.page_count % 64)))
                    return fail(where + ": bits set past the region's last page");
                seen += std::popcount(bits);
                in.add_word(region, w, bits);
                if (in.dirty.size() > max_runs) return over();
            }
        } else {
            return fail(where + ": unknown encoding " + std::to_string(encoding));
        }
        if (seen != block_pages || seen == 0)
            return fail(where + ": the block says " + std::to_string(block_pages) + " pages and holds " +
                        std::to_string(seen));
        total += seen;
    }
    if (total != pages)
        return fail("the interval says " + std::to_string(pages) + " pages and its blocks hold " +
                    std::to_string(total));
    if (c.at != raw.size()) return fail(std::to_string(raw.size() - c.at) + " bytes after the last block");
    return true;
}

}  // namespace

Decoded decode_body(std::span<const uint8_t> raw, uint64_t expected_index, const Header& h, uint64_t max_runs,
                    Interval& in, std::string& problem) {
    Cursor c{raw};
    bool too_large = false;
    if (body_fields(c, raw, expected_index, h, max_runs, in, problem, too_large)) return Decoded::ok;
    if (!too_large) problem += " (body byte " + std::to_string(c.at) + ")";
    return too_large ? Decoded::too_large : Decoded::corrupt;
}

}  // namespace dtrack::recording::format
