#include "dtvm/guest/workload_params.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "dtrack/hash.hpp"
#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/vcpu_role.hpp"

namespace dtvm {
namespace {

uint64_t pattern_code(Pattern p) {
    switch (p) {
        case Pattern::sequential: return guest_abi::kPatternSequential;
        case Pattern::random: return guest_abi::kPatternRandom;
        case Pattern::hotcold: return guest_abi::kPatternHotCold;
    }
    return guest_abi::kPatternSequential;
}

}  // namespace

VcpuPart vcpu_part(uint64_t first_page, uint64_t wss_pages, uint32_t vcpu, uint32_t vcpus) {
    const auto edge = [&](uint64_t i) { return static_cast<uint64_t>((unsigned __int128)wss_pages * i / vcpus); };
    return VcpuPart{first_page + edge(vcpu), edge(vcpu + 1) - edge(vcpu)};
}

dtrack::Status check_workload(const Workload& w, uint32_t vcpus, uint64_t max_pages) {
    if (w.wss_pages < vcpus)
        return dtrack::Error{0,
                             "a working set of " + std::to_string(w.wss_pages) + " pages cannot be split over " +
                                 std::to_string(vcpus) + " vCPUs",
                             "give every vCPU at least one page"};
    if (w.wss_pages > max_pages)
        return dtrack::Error{0,
                             "a working set of " + std::to_string(w.wss_pages) + " pages does not fit: the VM has " +
                                 std::to_string(max_pages) + " pages for it",
                             "give the VM more memory or use a smaller working set"};
    if (w.wss_pages / vcpus >= (1ULL << 32))
        return dtrack::Error{0, "a vCPU's part of the working set must be under 2^32 pages", "use more vCPUs"};
    if (!(w.hot_fraction >= 0 && w.hot_fraction <= 1) || !(w.hot_share >= 0 && w.hot_share <= 1))
        return dtrack::Error{0, "hot_fraction and hot_share must be between 0 and 1", ""};
    if (dtrack::Status s = check_write_bytes(w.write_bytes); !s) return s;
    if (w.rate_per_vcpu != 0 && w.exit_every == 0)
        return dtrack::Error{0, "a rate limit needs guest exits to pace at, and exit_every is 0",
                             "set exit_every (e.g. 256) or no rate limit"};
    return dtrack::Ok{};
}

void write_params(const ParamPage& p, const Workload& w, const GuestLayout& layout, uint32_t vcpu, uint64_t first_page,
                  const GuestSetup& setup) {
    namespace abi = guest_abi;
    // A reader walks the whole working set, the writers' parts together. It
    // is under 2^32 pages, as guest.S's hotcold needs: guest RAM is at most
    // 512 GiB (2^27 pages).
    const bool reader = role_of(vcpu, setup.writers) == VcpuRole::reader;
    const VcpuPart part =
        reader ? VcpuPart{first_page, w.wss_pages} : vcpu_part(first_page, w.wss_pages, vcpu, setup.writers);

    // Hot/cold in fixed point: the first hot_pages of the part are hot, and a
    // write goes there when the high 32 bits of a random number are below
    // threshold (= hot_share * 2^32). An empty side never gets picked.
    uint64_t hot_pages = std::min<uint64_t>(part.pages, std::llround(w.hot_fraction * double(part.pages)));
    uint64_t threshold = std::min<uint64_t>(1ULL << 32, std::llround(w.hot_share * 4294967296.0));
    if (hot_pages == 0) threshold = 0;
    if (hot_pages == part.pages) threshold = 1ULL << 32;

    // SplitMix64 turns (seed, vcpu) into well-mixed, distinct xorshift states.
    uint64_t seed = dtrack::splitmix64(w.seed ^ dtrack::splitmix64(vcpu));
    if (seed == 0) seed = 1;  // xorshift stays at 0 forever

    p.write(abi::kParamVcpuId, vcpu);
    p.write(abi::kParamFlags, (setup.register_vif ? abi::kFlagRegisterVif : 0) | (reader ? abi::kFlagReader : 0));
    p.write(abi::kParamVifGpa, layout.vif_gpa(vcpu));
    p.write(abi::kParamPartGpa, part.first_page << kPageShift);
    p.write(abi::kParamPartPages, part.pages);
    p.write(abi::kParamPattern, pattern_code(w.pattern));
    p.write(abi::kParamHotPages, hot_pages);
    p.write(abi::kParamHotThreshold, threshold);
    p.write(abi::kParamRngSeed, seed);
    p.write(abi::kParamExitEvery, w.exit_every);
    p.write(abi::kParamWriteWords, std::clamp<uint64_t>(w.write_bytes / 8, 1, kPageSize / 8));
    // The fill's own PRNG, so the pages picked are the same whatever is written to them.
    uint64_t fill_seed = dtrack::splitmix64(seed ^ 0x66696c6cULL);
    if (fill_seed == 0) fill_seed = 1;
    p.write(abi::kParamFillSeed, fill_seed);
    p.write(abi::kParamEpoch, setup.epoch);
    p.write(abi::kParamWrites, 0);
}

}  // namespace dtvm
