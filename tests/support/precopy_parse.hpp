// The precopy stream parsed from bytes in the receiver's order (header
// prelude, region table, then records: header, payload crc, page batches
// inflated and decoded): the first error met, or none for a well-formed
// stream. For the corpus test and the fuzzer.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "dtrack/precopy/wire_format.hpp"

namespace dtrack_test {

inline std::optional<dtrack::Error> parse_precopy_stream(std::span<const uint8_t> in) {
    using dtrack::Error;
    using dtrack::Status;
    namespace precopy = dtrack::precopy;
    namespace wire = precopy::wire;
    if (in.size() < wire::prelude_bytes) return Error{0, "cut in the prelude", ""};
    auto prelude = wire::decode_prelude(in.first(wire::prelude_bytes));
    if (!prelude) return prelude.error();
    in = in.subspan(wire::prelude_bytes);
    if (in.size() < prelude->table_bytes()) return Error{0, "cut in the region table", ""};
    auto header = wire::decode_region_table(*prelude, in.first(prelude->table_bytes()));
    if (!header) return header.error();
    in = in.subspan(prelude->table_bytes());
    std::vector<uint8_t> scratch;
    std::vector<wire::PageEntry> entries;
    while (!in.empty()) {
        if (in.size() < wire::record_header_bytes) return Error{0, "cut in a record header", ""};
        auto rh = wire::decode_record_header(in.first(wire::record_header_bytes), header->page_size);
        if (!rh) return rh.error();
        in = in.subspan(wire::record_header_bytes);
        if (in.size() < rh->payload_length) return Error{0, "cut in a payload", ""};
        const auto payload = in.first(rh->payload_length);
        in = in.subspan(rh->payload_length);
        if (Status s = wire::check_payload_crc(*rh, payload); !s) return s.error();
        if (rh->type != wire::RecordType::page_batch) continue;
        if (rh->region >= header->regions.size()) return Error{0, "no such region", ""};
        auto raw = wire::inflate_page_batch(*rh, payload, header->page_size, scratch);
        if (!raw) return raw.error();
        if (Status s =
                wire::decode_page_batch(*raw, rh->count, header->page_size, header->regions[rh->region].pages, entries);
            !s)
            return s.error();
    }
    return std::nullopt;
}

}  // namespace dtrack_test
