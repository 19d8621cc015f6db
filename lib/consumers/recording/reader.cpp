// Reading recordings: the header, then one record at a time, stopping at the
// first record that is cut short or corrupt and saying where.
#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/byte_order.hpp"
#include "dtrack/units.hpp"
#include "consumers/recording/format.hpp"

namespace dtrack::recording {

std::string ReadEnd::describe() const {
    switch (kind) {
        case Kind::complete: return "complete (" + std::to_string(offset) + " bytes)";
        case Kind::truncated: return "truncated at byte " + std::to_string(offset) + ": " + problem;
        case Kind::corrupt: return "corrupt at byte " + std::to_string(offset) + ": " + problem;
        case Kind::too_large: return "too large to read at byte " + std::to_string(offset) + ": " + problem;
    }
    return "?";
}

Reader::Reader(Reader&& o) noexcept { *this = std::move(o); }
Reader& Reader::operator=(Reader&& o) noexcept {
    if (this == &o) return *this;
    if (file_) std::fclose(file_);
    file_ = std::exchange(o.file_, nullptr);
    bytes_ = std::move(o.bytes_);
    limits_ = o.limits_;
    size_ = o.size_;
    first_record_ = o.first_record_;
    offset_ = o.offset_;
    done_ = o.done_;
    header_ = std::move(o.header_);
    end_ = std::move(o.end_);
    next_index_ = o.next_index_;
    return *this;
}
Reader::~Reader() {
    if (file_) std::fclose(file_);
}

size_t Reader::read_at(uint64_t offset, uint8_t* out, size_t n) {
    if (offset >= size_) return 0;
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
    if (!file_) {
        std::memcpy(out, bytes_.data() + offset, n);
        return n;
    }
    if (fseeko(file_, static_cast<off_t>(offset), SEEK_SET) != 0) return 0;
    return std::fread(out, 1, n, file_);
}

Result<uint64_t> Reader::read_header() {
    format::Problem problem;
    const auto error = [&](const format::Problem& p) {
        return Error{0, "byte " + std::to_string(p.offset) + ": " + p.what,
                     p.what.find("newer") != std::string::npos ? "read it with a newer dtrack" : ""};
    };
    uint8_t prelude[format::prelude_bytes];
    const size_t got = read_at(0, prelude, sizeof prelude);
    format::Prelude pre;
    if (!format::decode_prelude({prelude, got}, pre, problem)) return error(problem);
    const uint64_t body_end = format::prelude_bytes + uint64_t(pre.body_length);
    if (size_ < body_end)
        return error({size_, "the file ends inside its header (" + std::to_string(size_) + " of " +
                                 std::to_string(body_end) + " bytes)"});
    std::vector<uint8_t> body(pre.body_length);
    if (read_at(format::prelude_bytes, body.data(), body.size()) != body.size())
        return Error{errno, "cannot read the header: " + errno_text(errno), ""};
    if (bytes::crc(body) != pre.body_crc)
        return error({16, "header body checksum mismatch (bytes " + std::to_string(format::prelude_bytes) + ".." +
                              std::to_string(format::prelude_bytes + pre.body_length - 1) + " are corrupt)"});
    if (!format::decode_header_body(body, format::prelude_bytes, header_, problem)) return error(problem);
    header_.version = pre.version;
    return body_end;
}

Result<Reader> Reader::open(const std::string& path, ReadLimits limits) {
    Reader r;
    r.limits_ = limits;
    r.file_ = std::fopen(path.c_str(), "rb");
    if (!r.file_) return errno_error("open " + path, errno, "check the path");
    struct stat st {};
    if (::fstat(fileno(r.file_), &st) != 0) return errno_error("fstat " + path, errno);
    if (!S_ISREG(st.st_mode))
        return Error{EINVAL, path + " is not a regular file",
                     "give a recording written by dtrack record or dtvm --record"};
    r.size_ = static_cast<uint64_t>(st.st_size);
    auto start = r.read_header();
    if (!start) {
        Error e = start.error();
        e.what = path + ": " + e.what;
        return e;
    }
    r.offset_ = r.first_record_ = *start;
    return r;
}

Result<Reader> Reader::from_bytes(std::vector<uint8_t> bytes, ReadLimits limits) {
    Reader r;
    r.limits_ = limits;
    r.size_ = bytes.size();
    r.bytes_ = std::move(bytes);
    auto start = r.read_header();
    if (!start) return start.error();
    r.offset_ = r.first_record_ = *start;
    return r;
}

void Reader::rewind() {
    offset_ = first_record_;
    next_index_ = 0;
    done_ = false;
    end_ = {};
}

bool Reader::stop(ReadEnd::Kind kind, std::string problem) {
    done_ = true;
    end_ = {kind, offset_, std::move(problem)};
    return false;
}

std::optional<Interval> Reader::next() {
    if (done_) return std::nullopt;
    if (offset_ == size_) {
        stop(ReadEnd::Kind::complete, "");
        return std::nullopt;
    }
    const std::string which = "interval " + std::to_string(next_index_);
    uint8_t frame_bytes[format::frame_bytes];
    const size_t got = read_at(offset_, frame_bytes, sizeof frame_bytes);
    if (got < sizeof frame_bytes) {
        stop(ReadEnd::Kind::truncated, which + " is cut short: " + std::to_string(got) + " of its " +
                                           std::to_string(sizeof frame_bytes) + " frame bytes are there");
        return std::nullopt;
    }
    format::Frame frame;
    format::Problem problem;
    if (!format::decode_frame({frame_bytes, got}, offset_, header_, limits_, frame, problem)) {
        stop(problem.too_large ? ReadEnd::Kind::too_large : ReadEnd::Kind::corrupt,
             which + ": " + problem.what + " (byte " + std::to_string(problem.offset) + ")");
        return std::nullopt;
    }
    const uint64_t have = size_ - offset_ - format::frame_bytes;
    if (have < frame.packed_length) {
        stop(ReadEnd::Kind::truncated, which + " is cut short: " + std::to_string(have) + " of its " +
                                           std::to_string(frame.packed_length) + " compressed bytes are there");
        return std::nullopt;
    }
    packed_.resize(frame.packed_length);
    if (read_at(offset_ + format::frame_bytes, packed_.data(), packed_.size()) != packed_.size()) {
        stop(ReadEnd::Kind::truncated, which + ": read failed: " + errno_text(errno));
        return std::nullopt;
    }
    if (bytes::crc(packed_) != frame.packed_crc) {
        stop(ReadEnd::Kind::corrupt, which + ": checksum mismatch in its " + std::to_string(frame.packed_length) +
                                         " compressed bytes (from byte " +
                                         std::to_string(offset_ + format::frame_bytes) + ")");
        return std::nullopt;
    }
    raw_.resize(frame.raw_length);
    uLongf raw_length = frame.raw_length;
    const int z = uncompress(raw_.data(), &raw_length, packed_.data(), packed_.size());
    if (z != Z_OK || raw_length != frame.raw_length) {
        stop(ReadEnd::Kind::corrupt, which + ": its compressed body does not inflate to the " +
                                         std::to_string(frame.raw_length) + " bytes its frame announces (" +
                                         (z == Z_OK ? "shorter" : zError(z)) + ")");
        return std::nullopt;
    }
    Interval in;
    std::string body_problem;
    const uint64_t held = uint64_t(frame.packed_length) + frame.raw_length;  // decode_frame kept it in the limit
    const uint64_t max_runs = (limits_.interval_bytes - held) / sizeof(PageRun);
    switch (format::decode_body(raw_, next_index_, header_, max_runs, in, body_problem)) {
        case format::Decoded::ok: break;
        case format::Decoded::corrupt: stop(ReadEnd::Kind::corrupt, which + ": " + body_problem); return std::nullopt;
        case format::Decoded::too_large:
            stop(ReadEnd::Kind::too_large, which + ": " + body_problem + ", more than the " +
                                               format_bytes(double(limits_.interval_bytes)) +
                                               " an interval may take in memory with its body");
            return std::nullopt;
    }
    offset_ += format::frame_bytes + frame.packed_length;
    ++next_index_;
    return in;
}

Result<Recording> read_recording(const std::string& path, ReadLimits limits) {
    auto reader = Reader::open(path, limits);
    if (!reader) return reader.error();
    Recording r;
    r.header = reader->header();
    while (auto in = reader->next()) r.intervals.push_back(std::move(*in));
    r.end = reader->end();
    return r;
}

}  // namespace dtrack::recording
