// The END record's memory digest (guest_memory.hpp): each region cut into
// pieces of digest_piece_bytes, each piece hashed with XXH3, then XXH3 over
// the pieces' hashes. It runs while the vCPUs are paused, on both sides, so
// its time is downtime: pieces let several threads share it. A check against
// bugs and corruption, not an attacker.
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <system_error>
#include <thread>
#include <vector>

#include "common/byte_order.hpp"
#include "dtrack/hash.hpp"
#include "dtrack/precopy/guest_memory.hpp"

namespace dtrack::precopy {

namespace {

// More threads than this only queue for the same memory bandwidth.
constexpr unsigned max_digest_threads = 8;

struct Piece {
    const uint8_t* bytes;
    uint64_t size;
};

std::vector<Piece> pieces_of(std::span<const GuestMemory> memory) {
    std::vector<Piece> pieces;
    for (const GuestMemory& m : memory)
        for (uint64_t at = 0; at < m.bytes(); at += digest_piece_bytes)
            pieces.push_back({m.host + at, std::min(digest_piece_bytes, m.bytes() - at)});
    return pieces;
}

// The CPUs this thread may run on (taskset, cgroups' cpusets), not the
// machine's: more threads than those only take turns.
unsigned usable_cores() {
    cpu_set_t set;
    if (::sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
    return std::max(1u, std::thread::hardware_concurrency());
}

unsigned threads_for(unsigned asked, size_t pieces) {
    const unsigned wanted = asked ? asked : std::min(usable_cores(), max_digest_threads);
    return static_cast<unsigned>(std::clamp<size_t>(pieces, 1, wanted));
}

}  // namespace

uint64_t memory_digest(std::span<const GuestMemory> memory, unsigned threads) {
    const std::vector<Piece> pieces = pieces_of(memory);
    std::vector<uint8_t> hashes(pieces.size() * 8);  // little-endian, in piece order
    std::atomic<size_t> next{0};
    auto hash_pieces = [&] {
        for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < pieces.size();)
            bytes::put64(&hashes[i * 8], xxh3_64(pieces[i].bytes, pieces[i].size));
    };
    {
        std::vector<std::jthread> helpers;
        for (unsigned t = 1; t < threads_for(threads, pieces.size()); ++t) {
            try {
                helpers.emplace_back(hash_pieces);
            } catch (const std::system_error&) {
                break;  // no thread to be had: the ones running (and this one) hash the rest
            }
        }
        hash_pieces();
    }  // joins the helpers
    return xxh3_64(hashes.data(), hashes.size());
}

std::chrono::nanoseconds estimated_digest_time(std::span<const GuestMemory> memory) {
    return estimated_digest_time(memory, 0);
}

std::chrono::nanoseconds estimated_digest_time(std::span<const GuestMemory> memory, uint64_t piece) {
    const std::vector<Piece> pieces = pieces_of(memory);  // as memory_digest() cuts them
    if (pieces.empty()) return std::chrono::nanoseconds(0);
    uint64_t total = 0;
    for (const GuestMemory& m : memory) total += m.bytes();
    const Piece& sample = pieces[piece % pieces.size()];
    const auto started = std::chrono::steady_clock::now();
    volatile uint64_t sink = xxh3_64(sample.bytes, sample.size);
    (void)sink;
    const double ns = double(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
    const double threads = double(std::min(usable_cores(), max_digest_threads));
    return std::chrono::nanoseconds(int64_t(std::max(ns, 1.0) * double(total) / double(sample.size) / threads));
}

}  // namespace dtrack::precopy
