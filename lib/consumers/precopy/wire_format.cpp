// Encoding and validating the precopy stream (format: precopy/wire_format.hpp).
#include "dtrack/precopy/wire_format.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <optional>

#include "common/byte_order.hpp"
#include "consumers/precopy/batch_compression.hpp"
#include "consumers/precopy/page_delta.hpp"

namespace dtrack::precopy::wire {

namespace {

using bytes::crc;
using bytes::get16;
using bytes::get32;
using bytes::get64;
using bytes::put32;
using bytes::put64;

Error corrupt(std::string what) { return Error{0, std::move(what), ""}; }

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

bool known_type(uint8_t t) {
    switch (static_cast<RecordType>(t)) {
        case RecordType::page_batch:
        case RecordType::round_marker:
        case RecordType::end:
        case RecordType::pages_done:
        case RecordType::accept:
        case RecordType::reject: return true;
    }
    return false;
}

bool valid_page_size(uint64_t s) { return s >= min_page_size && s <= max_page_size && std::has_single_bit(s); }

uint64_t max_raw_batch(uint32_t count, uint64_t page_size) { return uint64_t{count} * (8 + page_size); }

uint8_t flag_for(Compression method) {
    switch (method) {
        case Compression::zlib: return flag_zlib;
        case Compression::zstd: return flag_zstd;
        case Compression::none: break;
    }
    return 0;
}

}  // namespace

Compression batch_compression(uint8_t flags) {
    if (flags & flag_zstd) return Compression::zstd;
    if (flags & flag_zlib) return Compression::zlib;
    return Compression::none;
}

uint32_t max_batch_pages(uint64_t page_size) {
    const uint64_t n = max_batch_raw_bytes / (8 + page_size);
    return static_cast<uint32_t>(std::clamp<uint64_t>(n, 1, 4096));
}

const char* to_string(RecordType type) {
    switch (type) {
        case RecordType::page_batch: return "page batch";
        case RecordType::round_marker: return "round marker";
        case RecordType::end: return "end";
        case RecordType::pages_done: return "pages done";
        case RecordType::accept: return "accept";
        case RecordType::reject: return "reject";
    }
    return "unknown";
}

// --- stream header ------------------------------------------------------------------

StreamHeader header_for(std::span<const GuestMemory> memory) {
    StreamHeader h;
    if (!memory.empty()) h.page_size = memory.front().page_size;
    for (const GuestMemory& m : memory) h.regions.push_back(RegionLayout{m.region, m.base, m.pages});
    return h;
}

std::string describe(const StreamHeader& header) {
    std::string s = "page size " + std::to_string(header.page_size) + ", " + std::to_string(header.regions.size()) +
                    (header.regions.size() == 1 ? " region: [" : " regions: [");
    for (size_t i = 0; i < header.regions.size(); ++i) {
        const RegionLayout& r = header.regions[i];
        if (i) s += "; ";
        s += "id " + std::to_string(r.id) + ": base " + hex(r.base) + ", " + std::to_string(r.pages) + " pages";
    }
    return s + "]";
}

std::vector<uint8_t> encode_header(const StreamHeader& header) {
    const size_t n = header.regions.size();
    std::vector<uint8_t> out(prelude_bytes + n * region_entry_bytes + 4, 0);
    uint8_t* p = out.data();
    std::memcpy(p, magic.data(), magic.size());
    put32(p + 8, header.version);
    put32(p + 12, static_cast<uint32_t>(header.page_size));
    put32(p + 16, static_cast<uint32_t>(n));
    put32(p + 20, 0);
    put32(p + 24, crc({p, 24}));
    uint8_t* table = p + prelude_bytes;
    for (size_t i = 0; i < n; ++i) {
        uint8_t* e = table + i * region_entry_bytes;
        put32(e, header.regions[i].id);
        put64(e + 8, header.regions[i].base);
        put64(e + 16, header.regions[i].pages);
    }
    put32(table + n * region_entry_bytes, crc({table, n * region_entry_bytes}));
    return out;
}

Result<Prelude> decode_prelude(std::span<const uint8_t> b) {
    if (b.size() < prelude_bytes) return corrupt("header too short");
    // Magic and version first: a stream of another kind or version deserves
    // that message rather than "checksum mismatch".
    if (!std::equal(magic.begin(), magic.end(), b.begin()))
        return corrupt("at byte 0: not a dtrack precopy stream (bad magic)");
    Prelude p;
    p.version = get32(&b[8]);
    if (p.version != version)
        return corrupt("at byte 8: unsupported stream version " + std::to_string(p.version) +
                       " (this side speaks version " + std::to_string(version) + ")");
    if (get32(&b[24]) != crc(b.first(24))) return corrupt("at byte 24: header checksum mismatch (stream corrupt)");
    p.page_size = get32(&b[12]);
    p.region_count = get32(&b[16]);
    if (!valid_page_size(p.page_size))
        return corrupt("at byte 12: page size " + std::to_string(p.page_size) + " is not a power of two from " +
                       std::to_string(min_page_size) + " to " + std::to_string(max_page_size));
    if (p.region_count == 0 || p.region_count > max_regions)
        return corrupt("at byte 16: region count " + std::to_string(p.region_count) + " is outside 1.." +
                       std::to_string(max_regions));
    if (uint32_t flags = get32(&b[20]); flags != 0) return corrupt("at byte 20: unknown header flags " + hex(flags));
    return p;
}

Result<StreamHeader> decode_region_table(const Prelude& prelude, std::span<const uint8_t> table) {
    const size_t n = prelude.region_count, entries = n * region_entry_bytes;
    if (table.size() < prelude.table_bytes()) return corrupt("region table too short");
    const size_t table_at = prelude_bytes;
    if (get32(&table[entries]) != crc(table.first(entries)))
        return corrupt("at byte " + std::to_string(table_at + entries) +
                       ": region table checksum mismatch (stream corrupt)");
    StreamHeader h{.version = prelude.version, .page_size = prelude.page_size, .regions = {}};
    for (size_t i = 0; i < n; ++i) {
        const uint8_t* e = &table[i * region_entry_bytes];
        const size_t at = table_at + i * region_entry_bytes;
        if (get32(e + 4) != 0) return corrupt("at byte " + std::to_string(at + 4) + ": reserved field is not zero");
        RegionLayout r{get32(e), get64(e + 8), get64(e + 16)};
        if (r.pages >= max_region_pages)
            return corrupt("at byte " + std::to_string(at + 16) + ": region " + std::to_string(r.id) + " has " +
                           std::to_string(r.pages) + " pages (limit " + std::to_string(max_region_pages) + ")");
        h.regions.push_back(r);
    }
    return h;
}

// --- records --------------------------------------------------------------------------

uint64_t record_payload_limit(RecordType type, uint8_t flags, uint32_t count, uint64_t page_size) {
    switch (type) {
        case RecordType::page_batch: {
            const uint64_t raw = max_raw_batch(count, page_size);
            const Compression method = batch_compression(flags);
            return method == Compression::none ? raw : 4 + compressed_bound(method, raw);
        }
        case RecordType::round_marker: return 8;
        case RecordType::end: return 24;
        case RecordType::pages_done: return 0;
        case RecordType::accept: return 16;
        case RecordType::reject: return max_reason_bytes;
    }
    return 0;
}

void encode_record_header(const RecordHeader& h, uint8_t* out) {
    out[0] = static_cast<uint8_t>(h.type);
    out[1] = h.flags;
    out[2] = out[3] = 0;
    put32(out + 4, h.region);
    put32(out + 8, h.count);
    put32(out + 12, h.payload_length);
    put32(out + 16, h.payload_crc);
    put32(out + 20, crc({out, 20}));
}

std::vector<uint8_t> encode_record(RecordType type, std::span<const uint8_t> payload, uint32_t region, uint32_t count,
                                   uint8_t flags) {
    std::vector<uint8_t> out(record_header_bytes + payload.size());
    RecordHeader h{type, flags, region, count, static_cast<uint32_t>(payload.size()), crc(payload)};
    encode_record_header(h, out.data());
    std::copy(payload.begin(), payload.end(), out.begin() + record_header_bytes);
    return out;
}

Result<RecordHeader> decode_record_header(std::span<const uint8_t> b, uint64_t page_size) {
    if (b.size() < record_header_bytes) return corrupt("record header too short");
    if (get32(&b[20]) != crc(b.first(20))) return corrupt("record header checksum mismatch (stream corrupt)");
    if (!known_type(b[0])) return corrupt("unknown record type " + std::to_string(b[0]));
    RecordHeader h{static_cast<RecordType>(b[0]), b[1], get32(&b[4]), get32(&b[8]), get32(&b[12]), get32(&b[16])};
    const std::string what = std::string(to_string(h.type)) + " record: ";
    if (get16(&b[2]) != 0) return corrupt(what + "reserved bytes are not zero");
    if (h.type == RecordType::page_batch) {
        if (h.flags & ~(flag_zlib | flag_zstd)) return corrupt(what + "unknown flags " + hex(h.flags));
        if ((h.flags & flag_zlib) && (h.flags & flag_zstd))
            return corrupt(what + "flags " + hex(h.flags) + " name both zlib and zstd");
        if (h.count == 0 || h.count > max_batch_pages(page_size))
            return corrupt(what + "count " + std::to_string(h.count) + " is outside 1.." +
                           std::to_string(max_batch_pages(page_size)));
    } else {
        if (h.flags != 0) return corrupt(what + "unexpected flags " + hex(h.flags));
        if (h.region != 0 || h.count != 0) return corrupt(what + "region and count must be 0");
    }
    const uint64_t limit = record_payload_limit(h.type, h.flags, h.count, page_size);
    const bool exact = h.type == RecordType::round_marker || h.type == RecordType::end ||
                       h.type == RecordType::pages_done || h.type == RecordType::accept;
    if (h.payload_length > limit || (exact && h.payload_length != limit) ||
        (h.type == RecordType::reject && h.payload_length == 0))
        return corrupt(what + "payload length " + std::to_string(h.payload_length) +
                       (exact ? " (must be " + std::to_string(limit) + ")"
                              : " exceeds the limit of " + std::to_string(limit) + " bytes"));
    return h;
}

Status check_payload_crc(const RecordHeader& h, std::span<const uint8_t> payload) {
    if (crc(payload) != h.payload_crc)
        return corrupt(std::string(to_string(h.type)) + " record: payload checksum mismatch (stream corrupt)");
    return Ok{};
}

// --- small payloads -----------------------------------------------------------------------

std::vector<uint8_t> encode_round_marker(uint64_t round) {
    uint8_t p[8];
    put64(p, round);
    return encode_record(RecordType::round_marker, p);
}

std::vector<uint8_t> encode_pages_done() { return encode_record(RecordType::pages_done, {}); }

std::vector<uint8_t> encode_end(const EndRecord& end) {
    uint8_t p[24];
    put64(p, end.digest);
    put64(p + 8, end.rounds);
    put64(p + 16, end.pages);
    return encode_record(RecordType::end, p);
}

std::vector<uint8_t> encode_accept(const AcceptRecord& accept) {
    uint8_t p[16];
    put64(p, accept.digest);
    put64(p + 8, accept.pages);
    return encode_record(RecordType::accept, p);
}

std::vector<uint8_t> encode_reject(std::string_view reason) {
    if (reason.empty()) reason = "rejected";
    reason = reason.substr(0, max_reason_bytes);
    return encode_record(RecordType::reject, {reinterpret_cast<const uint8_t*>(reason.data()), reason.size()});
}

uint64_t decode_round_marker(std::span<const uint8_t> p) { return get64(p.data()); }
EndRecord decode_end(std::span<const uint8_t> p) { return {get64(&p[0]), get64(&p[8]), get64(&p[16])}; }
AcceptRecord decode_accept(std::span<const uint8_t> p) { return {get64(&p[0]), get64(&p[8])}; }
std::string decode_reject(std::span<const uint8_t> p) { return std::string(p.begin(), p.end()); }

// --- page batches ------------------------------------------------------------------------------

PageBatchBuilder::PageBatchBuilder(uint64_t page_size, uint32_t capacity)
    : page_size_(page_size), capacity_(std::clamp<uint32_t>(capacity, 1, max_batch_pages(page_size))) {
    raw_.reserve(record_header_bytes + max_raw_batch(capacity_, page_size_));
    delta_.resize(delta_send_limit(page_size_));
}

void PageBatchBuilder::start(uint32_t region) {
    region_ = region;
    count_ = zero_pages_ = delta_pages_ = 0;
    raw_.resize(record_header_bytes);
}

EntryKind PageBatchBuilder::add(uint64_t page, const uint8_t* contents, const uint8_t* previous, uint8_t* keep) {
    // Zero pages are found on the page itself and never copied. Should the
    // guest write it after this check, that write marks it dirty again, so a
    // later round carries it, as with any page read while the guest runs.
    bool zero = true;
    for (uint64_t i = 0; i < page_size_ && zero; i += 8) {
        uint64_t w;
        std::memcpy(&w, contents + i, 8);
        zero = w == 0;
    }
    ++count_;
    const size_t at = raw_.size();
    if (zero) {
        raw_.resize(at + 8);
        put64(raw_.data() + at, page | zero_page_flag);
        ++zero_pages_;
        return EntryKind::zero;
    }
    raw_.resize(at + 8 + page_size_);
    put64(raw_.data() + at, page);
    uint8_t* copy = raw_.data() + at + 8;
    std::memcpy(copy, contents, page_size_);  // the snapshot the checksum (and a delta) covers
    std::optional<size_t> delta_length;
    if (previous) delta_length = delta::encode({previous, page_size_}, {copy, page_size_}, delta_);
    if (keep) std::memcpy(keep, copy, page_size_);  // after the delta: `previous` may be `keep`
    if (!delta_length) return EntryKind::whole;
    put64(raw_.data() + at, page | delta_page_flag);
    put32(copy, static_cast<uint32_t>(*delta_length));
    std::memcpy(copy + 4, delta_.data(), *delta_length);
    raw_.resize(at + 8 + 4 + *delta_length);
    ++delta_pages_;
    return EntryKind::delta;
}

std::span<const uint8_t> PageBatchBuilder::finish(BatchCompressor* compressor) {
    const std::span<const uint8_t> raw_payload(raw_.data() + record_header_bytes, raw_.size() - record_header_bytes);
    if (compressor) {
        packed_.resize(record_header_bytes + 4 + compressor->bound(raw_payload.size()));
        const size_t packed_len = compressor->compress(
            raw_payload, {packed_.data() + record_header_bytes + 4, packed_.size() - 4 - record_header_bytes});
        // Compression only pays when it saves more than its 4-byte length field.
        if (packed_len > 0 && packed_len + 4 < raw_payload.size()) {
            put32(packed_.data() + record_header_bytes, static_cast<uint32_t>(raw_payload.size()));
            packed_.resize(record_header_bytes + 4 + packed_len);
            const std::span<const uint8_t> payload(packed_.data() + record_header_bytes, 4 + packed_len);
            encode_record_header(RecordHeader{RecordType::page_batch, flag_for(compressor->method()), region_, count_,
                                              static_cast<uint32_t>(payload.size()), crc(payload)},
                                 packed_.data());
            return packed_;
        }
    }
    encode_record_header(RecordHeader{RecordType::page_batch, 0, region_, count_,
                                      static_cast<uint32_t>(raw_payload.size()), crc(raw_payload)},
                         raw_.data());
    return raw_;
}

Result<std::span<const uint8_t>> inflate_page_batch(const RecordHeader& h, std::span<const uint8_t> payload,
                                                    uint64_t page_size, std::vector<uint8_t>& scratch) {
    const Compression method = batch_compression(h.flags);
    if (method == Compression::none) return payload;
    if (payload.size() < 4) return corrupt("compressed page batch is shorter than its length field");
    const uint64_t announced = get32(payload.data()), limit = max_raw_batch(h.count, page_size);
    if (announced > limit)
        return corrupt("compressed page batch announces " + std::to_string(announced) + " bytes, more than " +
                       std::to_string(h.count) + " pages can fill (" + std::to_string(limit) + ")");
    scratch.resize(announced);
    if (Status s = inflate(method, payload.subspan(4), scratch); !s) return s.error();
    return std::span<const uint8_t>(scratch.data(), announced);
}

Status decode_page_batch(std::span<const uint8_t> raw, uint32_t count, uint64_t page_size, uint64_t region_pages,
                         std::vector<PageEntry>& entries) {
    entries.clear();
    size_t at = 0;
    for (uint32_t i = 0; i < count; ++i) {
        const auto entry = [i] { return "page batch entry " + std::to_string(i); };
        if (raw.size() - at < 8)
            return corrupt("page batch ends inside entry " + std::to_string(i) + " of " + std::to_string(count));
        const uint64_t word = get64(&raw[at]);
        at += 8;
        const bool zero = word & zero_page_flag, delta = word & delta_page_flag;
        const uint64_t page = word & ~(zero_page_flag | delta_page_flag);
        if (zero && delta) return corrupt(entry() + ": flagged both zero page and delta");
        if (page >= region_pages)
            return corrupt(entry() + ": page " + std::to_string(page) + " is beyond the region's " +
                           std::to_string(region_pages) + " pages");
        if (!entries.empty() && page <= entries.back().page)
            return corrupt(entry() + ": page " + std::to_string(page) + " does not follow page " +
                           std::to_string(entries.back().page));
        PageEntry e{.page = page, .contents = nullptr, .kind = zero ? EntryKind::zero : EntryKind::whole, .delta = {}};
        if (delta) {
            if (raw.size() - at < 4)
                return corrupt("page batch ends inside the delta length of page " + std::to_string(page));
            const uint64_t length = get32(&raw[at]);
            at += 4;
            if (length > max_delta_bytes(page_size))
                return corrupt(entry() + ": a delta of " + std::to_string(length) + " bytes, more than the " +
                               std::to_string(max_delta_bytes(page_size)) + " a page of " + std::to_string(page_size) +
                               " bytes allows");
            if (raw.size() - at < length)
                return corrupt("page batch ends inside the delta of page " + std::to_string(page));
            e.kind = EntryKind::delta;
            e.delta = raw.subspan(at, length);
            if (Status s = delta::check(e.delta, page_size); !s) return corrupt(entry() + ": " + s.error().what);
            at += length;
        } else if (!zero) {
            if (raw.size() - at < page_size)
                return corrupt("page batch ends inside the contents of page " + std::to_string(page));
            e.contents = &raw[at];
            at += page_size;
        }
        entries.push_back(e);
    }
    if (at != raw.size())
        return corrupt("page batch has " + std::to_string(raw.size() - at) + " bytes after its " +
                       std::to_string(count) + " entries");
    return Ok{};
}

}  // namespace dtrack::precopy::wire
