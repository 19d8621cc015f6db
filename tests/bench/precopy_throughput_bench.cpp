// Precopy throughput over loopback TCP. Two layers:
//   - the stream: 64 MiB of page-batch-sized writes through the plain socket
//     and through TLS 1.3 (external PSK, TLS_AES_128_GCM_SHA256), a reader
//     thread draining the other end;
//   - pages end to end: 64 MiB of guest pages built into page-batch records
//     (wire_format.hpp, 64 pages each) by the sender, and on the receiving
//     thread read, checked (header and payload crc), inflated, decoded and
//     copied into the destination's memory, as lib/consumers/precopy/receiver.cpp does;
//     with and without zlib, with and without TLS, and all-zero pages.
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

std::vector<uint8_t> guest_memory(bool zero) {
    std::vector<uint8_t> m(guest_pages * page_size, 0);
    if (zero) return m;
    std::mt19937 rng(3);
    const char line[] = "the quick brown fox jumps over the lazy dog 0123456789\n";
    for (uint64_t p = 0; p < guest_pages; ++p) {
        uint8_t* page = m.data() + p * page_size;
        for (uint64_t i = 0; i < page_size / 2; ++i) page[i] = static_cast<uint8_t>(rng());
        for (uint64_t i = page_size / 2; i < page_size; ++i) page[i] = uint8_t(line[i % (sizeof line - 1)]);
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

void pages(benchmark::State& state, bool tls, bool compress, bool zero) {
    Link l = connect(tls, state);
    if (!l.in || !l.out) return;
    const std::vector<uint8_t> source = guest_memory(zero);
    std::vector<uint8_t> dest(source.size(), 0xff);
    wire::PageBatchBuilder batch(page_size, pages_per_batch);
    const auto compressor = make_batch_compressor(compress ? Compression::zlib : Compression::none, 1);
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

void BM_PrecopyPages(benchmark::State& state) { pages(state, false, false, false); }
void BM_PrecopyPagesZlib(benchmark::State& state) { pages(state, false, true, false); }
void BM_PrecopyPagesTls(benchmark::State& state) { pages(state, true, false, false); }
void BM_PrecopyPagesTlsZlib(benchmark::State& state) { pages(state, true, true, false); }
void BM_PrecopyZeroPages(benchmark::State& state) { pages(state, false, false, true); }

BENCHMARK(BM_PrecopyPages)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesZlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesTls)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyPagesTlsZlib)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_PrecopyZeroPages)->Unit(benchmark::kMillisecond)->UseRealTime();

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

}  // namespace
