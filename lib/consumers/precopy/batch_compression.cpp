// zlib and zstd for page batches (batch_compression.hpp), and the levels
// each method takes (dtrack/precopy/compression.hpp).
#include "consumers/precopy/batch_compression.hpp"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <string>

namespace dtrack::precopy {

const char* to_string(Compression method) {
    switch (method) {
        case Compression::none: return "none";
        case Compression::zlib: return "zlib";
        case Compression::zstd: return "zstd";
    }
    return "?";
}

std::optional<Compression> parse_compression(std::string_view name) {
    for (Compression m : {Compression::none, Compression::zlib, Compression::zstd})
        if (name == to_string(m)) return m;
    return std::nullopt;
}

CompressionLevels compression_levels(Compression method) {
    // Defaults from precopy_throughput_bench (BENCHMARKS.md, "Precopy"):
    // level 1 of each moves the most pages per core on dtvm-like pages.
    switch (method) {
        case Compression::none: return {0, 0, 0};
        case Compression::zlib: return {1, 9, 1};
        case Compression::zstd: return {1, 19, 1};
    }
    return {};
}

std::optional<int> effective_level(Compression method, int level) {
    const CompressionLevels l = compression_levels(method);
    if (level == 0) return l.default_level;
    if (level < l.min || level > l.max) return std::nullopt;
    return level;
}

std::string level_outside(Compression method, int level) {
    const CompressionLevels l = compression_levels(method);
    return std::to_string(level) + " is outside " + to_string(method) + "'s levels " + std::to_string(l.min) + ".." +
           std::to_string(l.max);
}

namespace {

Error corrupt(std::string what) { return Error{0, std::move(what), ""}; }

// The stream is reset, not remade, per batch.
class ZlibCompressor : public BatchCompressor {
public:
    explicit ZlibCompressor(int level) : level_(level) { ok_ = deflateInit(&z_, level_) == Z_OK; }
    ~ZlibCompressor() override {
        if (ok_) deflateEnd(&z_);
    }
    Compression method() const override { return Compression::zlib; }
    size_t bound(size_t raw) const override { return compressBound(static_cast<uLong>(raw)); }
    size_t compress(std::span<const uint8_t> raw, std::span<uint8_t> out) override {
        if (!ok_ || deflateReset(&z_) != Z_OK) return 0;
        z_.next_in = const_cast<Bytef*>(raw.data());
        z_.avail_in = static_cast<uInt>(raw.size());
        z_.next_out = out.data();
        z_.avail_out = static_cast<uInt>(out.size());
        if (deflate(&z_, Z_FINISH) != Z_STREAM_END) return 0;
        return out.size() - z_.avail_out;
    }

private:
    int level_;
    z_stream z_{};
    bool ok_ = false;
};

class ZstdCompressor : public BatchCompressor {
public:
    explicit ZstdCompressor(int level) : cctx_(ZSTD_createCCtx()) {
        if (cctx_) ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    }
    ~ZstdCompressor() override { ZSTD_freeCCtx(cctx_); }
    Compression method() const override { return Compression::zstd; }
    size_t bound(size_t raw) const override { return ZSTD_compressBound(raw); }
    size_t compress(std::span<const uint8_t> raw, std::span<uint8_t> out) override {
        if (!cctx_) return 0;
        const size_t n = ZSTD_compress2(cctx_, out.data(), out.size(), raw.data(), raw.size());
        return ZSTD_isError(n) ? 0 : n;
    }

private:
    ZSTD_CCtx* cctx_;
};

Status inflate_zlib(std::span<const uint8_t> in, std::span<uint8_t> out) {
    uLongf out_len = static_cast<uLongf>(out.size());
    const int rc = uncompress(out.data(), &out_len, in.data(), static_cast<uLong>(in.size()));
    // Z_BUF_ERROR with the buffer full: the data wants more room than announced (a bomb stops here).
    if (rc == Z_BUF_ERROR && out_len == out.size())
        return corrupt("compressed page batch inflates beyond the " + std::to_string(out.size()) +
                       " bytes it announced");
    if (rc != Z_OK) return corrupt(std::string("compressed page batch does not inflate: ") + zError(rc));
    if (out_len != out.size())
        return corrupt("compressed page batch inflates to " + std::to_string(out_len) + " bytes, announced " +
                       std::to_string(out.size()));
    return Ok{};
}

// A batch is at most 16 MiB raw: a frame that asks for a larger window is not ours.
constexpr int max_zstd_window_log = 24;

Status inflate_zstd(std::span<const uint8_t> in, std::span<uint8_t> out) {
    static thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(nullptr, ZSTD_freeDCtx);
    if (!dctx) {
        dctx.reset(ZSTD_createDCtx());
        if (!dctx) return Error{ENOMEM, "zstd could not make a decompression context", "free some memory"};
        ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, max_zstd_window_log);
    }
    ZSTD_DCtx_reset(dctx.get(), ZSTD_reset_session_only);
    // Into a buffer of exactly the announced size: a frame that holds more
    // fails with "destination buffer too small" instead of growing anything.
    const size_t n = ZSTD_decompressDCtx(dctx.get(), out.data(), out.size(), in.data(), in.size());
    if (ZSTD_isError(n)) {
        if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
            return corrupt("compressed page batch inflates beyond the " + std::to_string(out.size()) +
                           " bytes it announced");
        return corrupt(std::string("compressed page batch does not inflate (zstd): ") + ZSTD_getErrorName(n));
    }
    if (n != out.size())
        return corrupt("compressed page batch inflates to " + std::to_string(n) + " bytes, announced " +
                       std::to_string(out.size()));
    return Ok{};
}

}  // namespace

std::unique_ptr<BatchCompressor> make_batch_compressor(Compression method, int level) {
    switch (method) {
        case Compression::none: return nullptr;
        case Compression::zlib: return std::make_unique<ZlibCompressor>(level);
        case Compression::zstd: return std::make_unique<ZstdCompressor>(level);
    }
    return nullptr;
}

size_t compressed_bound(Compression method, size_t raw) {
    switch (method) {
        case Compression::none: return raw;
        case Compression::zlib: return compressBound(static_cast<uLong>(raw));
        case Compression::zstd: return ZSTD_compressBound(raw);
    }
    return raw;
}

Status inflate(Compression method, std::span<const uint8_t> in, std::span<uint8_t> out) {
    switch (method) {
        case Compression::zlib: return inflate_zlib(in, out);
        case Compression::zstd: return inflate_zstd(in, out);
        case Compression::none: break;
    }
    return corrupt("page batch: no compression method to inflate it with");
}

}  // namespace dtrack::precopy
