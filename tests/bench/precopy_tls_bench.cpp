// What TLS costs the precopy stream: 64 MiB of page-batch-sized writes over
// TCP on loopback, through the plain socket and through TLS 1.3 (external
// PSK, TLS_AES_128_GCM_SHA256), a reader thread draining the other end. The
// handshake is outside the timing; bytes/s is the stream's payload.
#include <benchmark/benchmark.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <thread>

#include "bench/pairs.hpp"
#include "consumers/precopy_stream.hpp"
#include "dtrack/precopy/tcp.hpp"

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

dtrack_bench::RegisterPair tls_pair("precopy stream, 64 MiB on loopback: TLS vs plain",
                                    "BM_PrecopyStreamPlainTcp/real_time", "BM_PrecopyStreamTls/real_time");

}  // namespace
