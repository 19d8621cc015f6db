// Precopy throughput over loopback TCP. Two layers:
//   - the stream: 64 MiB of page-batch-sized writes through the plain socket
//     and through TLS 1.3 (external PSK, TLS_AES_128_GCM_SHA256), a reader
//     thread draining the other end;
//   - pages end to end: 64 MiB of guest pages built into page-batch records
//     (wire_format.hpp, 64 pages each) by the sender, and on the receiving
//     thread read, checked (header and payload crc), inflated, decoded and
//     copied into the destination's memory, as lib/consumers/precopy/receiver.cpp does;
//     with and without zlib, with and without TLS, and all-zero pages;
//   - the compression levels on two kinds of page: dtvm's stamped pages
//     (zeros but 8 random bytes) and random pages (nothing to find), raw,
//     zlib level 1, zstd levels 1 and 3 (and zstd on the data pages): the
//     figures behind the levels' defaults (compression_levels());
//   - the page delta's encoder alone, on a stamped page and on a random
//     page rewritten whole (where it gives up).
// Data pages are half random bytes and half a repeated text line, so zlib
// has something to find but not everything (about 2:1), unlike dtvm's
// stamped pages (almost all zeros). Handshakes are outside the timing.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "pairs.hpp"
#include "consumers/precopy/batch_compression.hpp"
#include "consumers/precopy/page_delta.hpp"
#include "consumers/precopy/stream.hpp"
#include "dtrack/precopy/tcp.hpp"
#include "dtrack/precopy/wire_format.hpp"

namespace {

using namespace dtrack::precopy;
using namespace std::chrono_literals;

constexpr size_t batch_bytes = 64 * 4096 + 24 + 64 * 8;  // 64 pages, a record header, the page indices
constexpr size_t stream_bytes = 64ULL << 20;

// A keys.psk with one random key, removed at exit. A plain array: it must
// still be valid in the atexit handler, after static strings are gone.
char keys_path[] = "/tmp/dtrack-bench-XXXXXX";

void remove_keys() { ::unlink(keys_path); }

std::string keys_file() {
    static const bool made = [] {
        const int fd = ::mkstemp(keys_path);
        if (fd < 0) return false;
        ::close(fd);
        std::atexit(remove_keys);
        std::mt19937_64 rng(1);
        std::ofstream out(keys_path);
        out << "qemu:" << std::hex;
        for (int i = 0; i < 4; ++i) out << (rng() | (1ULL << 63));  // 64 hex digits: a 32-byte key
        out << "\n";
        return true;
    }();
    return made ? keys_path : "";
}

struct Link {
    dtrack::UniqueFd out_fd, in_fd;
    std::unique_ptr<Stream> out, in;
};

// A connected pair over 127.0.0.1, plain or after a TLS handshake.
Link connect(bool tls, benchmark::State& state) {
    Link l;
    auto listener = TcpListener::listen({"127.0.0.1", 0});
    if (!listener) {
        state.SkipWithError(listener.error().message().c_str());
        return l;
    }
    std::optional<TlsCredentials> client, server;
    if (tls) {
        client = TlsCredentials::load_psk(keys_file(), TlsRole::client).value();
        server = TlsCredentials::load_psk(keys_file(), TlsRole::server).value();
    }
    const Deadline by = std::chrono::steady_clock::now() + 10s;
    std::thread accept([&] {
        auto fd = listener->accept(10s);
        if (!fd) return;
        l.in_fd = std::move(fd.value());
        if (auto s = open_stream(l.in_fd.get(), server, "", by)) l.in = std::move(s.value());
    });
    auto fd = tcp_connect({"127.0.0.1", listener->port()}, 10s);
    if (fd) {
        l.out_fd = std::move(fd.value());
        if (auto s = open_stream(l.out_fd.get(), client, "", by)) l.out = std::move(s.value());
    }
    accept.join();
    if (!l.in || !l.out) state.SkipWithError("could not connect the pair");
    return l;
}

void stream(benchmark::State& state, bool tls) {
    Link l = connect(tls, state);
    if (!l.in || !l.out) return;
    std::vector<uint8_t> batch(batch_bytes);
    std::mt19937 rng(2);
    for (auto& b : batch) b = static_cast<uint8_t>(rng());
    const size_t batches = stream_bytes / batch_bytes;
    for (auto _ : state) {
        std::thread reader([&] {
            std::vector<uint8_t> buf(batch_bytes);
            for (size_t i = 0; i < batches; ++i)
                if (!l.in->read_exact(buf, no_deadline, 10s).ok()) return;
        });
        for (size_t i = 0; i < batches; ++i)
            if (!l.out->write_all(batch, no_deadline, 10s).ok()) state.SkipWithError("write failed");
        reader.join();
    }
    state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(batches * batch_bytes));
}

void BM_PrecopyStreamPlainTcp(benchmark::State& state) { stream(state, false); }
void BM_PrecopyStreamTls(benchmark::State& state) { stream(state, true); }

BENCHMARK(BM_PrecopyStreamPlainTcp)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyStreamTls)->Unit(benchmark::kMillisecond)->UseRealTime();

constexpr uint64_t page_size = 4096;
constexpr uint64_t guest_pages = stream_bytes / page_size;
constexpr uint32_t pages_per_batch = 64;

// What the guest's pages hold.
enum class Contents { data, zero, stamped, random };

std::vector<uint8_t> guest_memory(Contents contents) {
    std::vector<uint8_t> m(guest_pages * page_size, 0);
    if (contents == Contents::zero) return m;
    std::mt19937 rng(3);
    const char line[] = "the quick brown fox jumps over the lazy dog 0123456789\n";
    for (uint64_t p = 0; p < guest_pages; ++p) {
        uint8_t* page = m.data() + p * page_size;
        switch (contents) {
            case Contents::data:
                for (uint64_t i = 0; i < page_size / 2; ++i) page[i] = static_cast<uint8_t>(rng());
                for (uint64_t i = page_size / 2; i < page_size; ++i) page[i] = uint8_t(line[i % (sizeof line - 1)]);
                break;
            case Contents::stamped:  // as dtvm's guest leaves them: one 8-byte stamp
                for (uint64_t i = 0; i < 8; ++i) page[(p % 512) * 8 + i] = static_cast<uint8_t>(rng() | 1);
                break;
            case Contents::random:
                for (uint64_t i = 0; i < page_size; ++i) page[i] = static_cast<uint8_t>(rng());
                break;
            case Contents::zero: break;
        }
    }
    return m;
}

// The receiving side of one pass: every batch read, checked, decoded and copied.
bool receive_pages(Stream& in, std::vector<uint8_t>& dest) {
    std::vector<uint8_t> head(wire::record_header_bytes), payload, scratch;
    std::vector<wire::PageEntry> entries;
    for (uint64_t got = 0; got < guest_pages;) {
        if (!in.read_exact(head, no_deadline, 10s).ok()) return false;
        auto header = wire::decode_record_header(head, page_size);
        if (!header || header->type != wire::RecordType::page_batch) return false;
        payload.resize(header->payload_length);
        if (!in.read_exact(payload, no_deadline, 10s).ok()) return false;
        if (!wire::check_payload_crc(*header, payload)) return false;
        auto raw = wire::inflate_page_batch(*header, payload, page_size, scratch);
        if (!raw || !wire::decode_page_batch(*raw, header->count, page_size, guest_pages, entries)) return false;
        for (const wire::PageEntry& e : entries) {
            uint8_t* to = dest.data() + e.page * page_size;
            if (e.contents) std::memcpy(to, e.contents, page_size);
            else std::memset(to, 0, page_size);  // no deltas here: no sent-page cache
        }
        got += header->count;
    }
    return true;
}

void pages(benchmark::State& state, bool tls, Compression method, int level, Contents contents) {
    Link l = connect(tls, state);
    if (!l.in || !l.out) return;
    const std::vector<uint8_t> source = guest_memory(contents);
    std::vector<uint8_t> dest(source.size(), 0xff);
    wire::PageBatchBuilder batch(page_size, pages_per_batch);
    const auto compressor = make_batch_compressor(method, level);
    uint64_t wire_bytes = 0;
    for (auto _ : state) {
        bool received = false;
        std::thread receiver([&] { received = receive_pages(*l.in, dest); });
        for (uint64_t p = 0; p < guest_pages; p += pages_per_batch) {
            batch.start(0);
            for (uint64_t i = p; i < p + pages_per_batch; ++i) batch.add(i, source.data() + i * page_size);
            const std::span<const uint8_t> record = batch.finish(compressor.get());
            wire_bytes += record.size();
            if (!l.out->write_all(record, no_deadline, 10s).ok()) state.SkipWithError("write failed");
        }
        receiver.join();
        if (!received || dest != source) state.SkipWithError("the destination does not hold the source's pages");
    }
    state.counters["pages/s"] =
        benchmark::Counter(double(state.iterations() * guest_pages), benchmark::Counter::kIsRate);
    state.counters["wire/page"] = double(wire_bytes) / double(state.iterations() * guest_pages);
}

constexpr auto none = Compression::none, zlib = Compression::zlib, zstd = Compression::zstd;
void BM_PrecopyPages(benchmark::State& state) { pages(state, false, none, 0, Contents::data); }
void BM_PrecopyPagesZlib(benchmark::State& state) { pages(state, false, zlib, 1, Contents::data); }
void BM_PrecopyPagesTls(benchmark::State& state) { pages(state, true, none, 0, Contents::data); }
void BM_PrecopyPagesTlsZlib(benchmark::State& state) { pages(state, true, zlib, 1, Contents::data); }
void BM_PrecopyZeroPages(benchmark::State& state) { pages(state, false, none, 0, Contents::zero); }
// The levels: stamped and random pages, raw, zlib 1, zstd 1 and 3.
void BM_PrecopyStampedPages(benchmark::State& state) { pages(state, false, none, 0, Contents::stamped); }
void BM_PrecopyStampedPagesZlib1(benchmark::State& state) { pages(state, false, zlib, 1, Contents::stamped); }
void BM_PrecopyStampedPagesZstd1(benchmark::State& state) { pages(state, false, zstd, 1, Contents::stamped); }
void BM_PrecopyStampedPagesZstd3(benchmark::State& state) { pages(state, false, zstd, 3, Contents::stamped); }
void BM_PrecopyRandomPagesZlib1(benchmark::State& state) { pages(state, false, zlib, 1, Contents::random); }
void BM_PrecopyRandomPagesZstd1(benchmark::State& state) { pages(state, false, zstd, 1, Contents::random); }
void BM_PrecopyRandomPagesZstd3(benchmark::State& state) { pages(state, false, zstd, 3, Contents::random); }
void BM_PrecopyPagesZstd1(benchmark::State& state) { pages(state, false, zstd, 1, Contents::data); }
void BM_PrecopyPagesZstd3(benchmark::State& state) { pages(state, false, zstd, 3, Contents::data); }

BENCHMARK(BM_PrecopyPages)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesZlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesTls)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesTlsZlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyZeroPages)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyStampedPages)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyStampedPagesZlib1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyStampedPagesZstd1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyStampedPagesZstd3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyRandomPagesZlib1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyRandomPagesZstd1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyRandomPagesZstd3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesZstd1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesZstd3)->Unit(benchmark::kMillisecond)->UseRealTime();

// The delta encoder on one page: a stamp (8 bytes changed), and a random page
// rewritten whole, where it stops at the send limit and the page goes whole.
void delta_encode(benchmark::State& state, bool whole) {
    std::mt19937_64 rng(5);
    std::vector<uint8_t> before(page_size, 0), now(page_size, 0), out(wire::delta_send_limit(page_size));
    for (auto& b : before) b = whole ? uint8_t(rng()) : 0;
    uint64_t sent = 0, n = 0;
    for (auto _ : state) {
        now = before;
        if (whole)
            for (auto& b : now) b = uint8_t(~b);
        else std::memcpy(now.data() + (n % 512) * 8, &n, 8);
        const auto length = delta::encode(before, now, out);
        sent += length ? *length : page_size;
        ++n;
        benchmark::DoNotOptimize(length);
    }
    state.counters["pages/s"] = benchmark::Counter(double(n), benchmark::Counter::kIsRate);
    state.counters["bytes/page"] = double(sent) / double(std::max<uint64_t>(n, 1));
}
void BM_PageDeltaEncodeStamp(benchmark::State& state) { delta_encode(state, false); }
void BM_PageDeltaEncodeWholePage(benchmark::State& state) { delta_encode(state, true); }
BENCHMARK(BM_PageDeltaEncodeStamp);
BENCHMARK(BM_PageDeltaEncodeWholePage);

dtrack_bench::RegisterPair tls_pair("precopy stream, 64 MiB on loopback: TLS vs plain",
                                    "BM_PrecopyStreamPlainTcp/real_time", "BM_PrecopyStreamTls/real_time");
dtrack_bench::RegisterPair zlib_pair("precopy pages end to end: zlib vs raw", "BM_PrecopyPages/real_time",
                                     "BM_PrecopyPagesZlib/real_time");
dtrack_bench::RegisterPair tls_pages_pair("precopy pages end to end: TLS vs plain", "BM_PrecopyPages/real_time",
                                          "BM_PrecopyPagesTls/real_time");
dtrack_bench::RegisterPair zero_pair("precopy pages end to end: zero pages vs data", "BM_PrecopyPages/real_time",
                                     "BM_PrecopyZeroPages/real_time");
dtrack_bench::RegisterFigure plain_figure("precopy pages/s over loopback, plain", "BM_PrecopyPages/real_time",
                                          "pages/s");
dtrack_bench::RegisterFigure zlib_figure("precopy pages/s over loopback, zlib", "BM_PrecopyPagesZlib/real_time",
                                         "pages/s");
dtrack_bench::RegisterFigure tls_figure("precopy pages/s over loopback, TLS", "BM_PrecopyPagesTls/real_time",
                                        "pages/s");
dtrack_bench::RegisterFigure tls_zlib_figure("precopy pages/s over loopback, TLS + zlib",
                                             "BM_PrecopyPagesTlsZlib/real_time", "pages/s");
dtrack_bench::RegisterFigure zero_figure("precopy pages/s over loopback, zero pages", "BM_PrecopyZeroPages/real_time",
                                         "pages/s");
dtrack_bench::RegisterFigure stamped_zlib1("precopy pages/s, dtvm's stamped pages, zlib 1",
                                           "BM_PrecopyStampedPagesZlib1/real_time", "pages/s");
dtrack_bench::RegisterFigure stamped_zstd1("precopy pages/s, dtvm's stamped pages, zstd 1",
                                           "BM_PrecopyStampedPagesZstd1/real_time", "pages/s");
dtrack_bench::RegisterFigure stamped_zstd3("precopy pages/s, dtvm's stamped pages, zstd 3",
                                           "BM_PrecopyStampedPagesZstd3/real_time", "pages/s");
dtrack_bench::RegisterFigure random_zlib1("precopy pages/s, random pages, zlib 1",
                                          "BM_PrecopyRandomPagesZlib1/real_time", "pages/s");
dtrack_bench::RegisterFigure random_zstd1("precopy pages/s, random pages, zstd 1",
                                          "BM_PrecopyRandomPagesZstd1/real_time", "pages/s");
dtrack_bench::RegisterPair zstd_zlib_stamped("precopy stamped pages: zstd 1 vs zlib 1",
                                             "BM_PrecopyStampedPagesZlib1/real_time",
                                             "BM_PrecopyStampedPagesZstd1/real_time");
dtrack_bench::RegisterFigure delta_stamp("page delta encodes/s, a stamp", "BM_PageDeltaEncodeStamp", "pages/s");

}  // namespace
