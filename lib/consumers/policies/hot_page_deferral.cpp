#include "dtrack/hot_page_deferral.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>

#include "dtrack/units.hpp"

namespace dtrack {

namespace {

// Eight pages' history bytes at once: each byte shifted left by one, so the
// oldest observation falls off (a byte holds 8; k is at most 8).
uint64_t shift_bytes(uint64_t eight) { return (eight << 1) & 0xFEFEFEFEFEFEFEFEULL; }

// The lowest `n` set bits of `bits`.
uint64_t lowest_bits(uint64_t bits, uint64_t n) {
    if (uint64_t(std::popcount(bits)) <= n) return bits;
    uint64_t out = 0;
    for (; n; --n, bits &= bits - 1) out |= bits & -bits;
    return out;
}

}  // namespace

Status check_hot_page_deferral(const HotPageDeferralOptions& options) {
    if (options.rounds >= 1 && options.rounds <= 8) return Ok{};
    return Error{EINVAL,
                 "hot-page deferral rounds " + std::to_string(options.rounds) +
                     " is outside 1..8: a page's history holds its last 8 rounds",
                 "give a number of rounds from 1 to 8 (2 is the default)"};
}

Result<std::optional<HotPageDeferralOptions>> parse_defer_hot_options(bool defer_hot, const std::string& rounds) {
    if (!defer_hot && !rounds.empty())
        return Error{EINVAL, "--defer-hot-rounds is given without --defer-hot",
                     "add --defer-hot, or leave out --defer-hot-rounds"};
    if (!defer_hot) return std::optional<HotPageDeferralOptions>();
    HotPageDeferralOptions d;
    if (!rounds.empty()) {
        auto k = parse_count(rounds, "--defer-hot-rounds");
        d.rounds = k && *k <= 8 ? int(*k) : 0;
        if (!check_hot_page_deferral(d))
            return Error{EINVAL, "--defer-hot-rounds " + rounds + " is not a number of rounds from 1 to 8",
                         "give --defer-hot-rounds 1 to 8 (2 is the default): a page's history holds its last 8 rounds"};
    }
    return std::optional(d);
}

double final_round_capacity_pages(std::chrono::nanoseconds downtime_limit, double memory_rate, uint64_t page_size) {
    if (!(memory_rate > 0) || page_size == 0 || downtime_limit.count() <= 0) return 0;
    return std::chrono::duration<double>(downtime_limit).count() * memory_rate / double(page_size);
}

double deferred_pages(uint64_t observed_rounds, int k, double dirty, double hot, double repeated, double capacity) {
    if (k < 1 || observed_rounds < uint64_t(k) || !(hot > 0)) return 0;
    return std::clamp(capacity - std::max(0.0, dirty - repeated), 0.0, hot);
}

HotPageDeferral::HotPageDeferral(HotPageDeferralOptions options, std::vector<uint64_t> region_pages)
    : k_(std::clamp(options.rounds, 1, 8)) {
    for (uint64_t pages : region_pages) {
        RegionState r;
        r.pages = pages;
        const uint64_t words = (pages + 63) / 64;
        r.history.assign(words * 64, 0);  // whole words, so a word's 64 bytes shift together
        r.active.assign((words + 63) / 64, 0);
        regions_.push_back(std::move(r));
    }
}

uint64_t HotPageDeferral::observe(RegionState& r, const DirtyBitmap* dirty) {
    // Every page that was dirty in the last 8 rounds moves one round back;
    // the others are all zero and stay so.
    for (size_t a = 0; a < r.active.size(); ++a) {
        for (uint64_t bits = r.active[a]; bits; bits &= bits - 1) {
            const uint64_t w = a * 64 + std::countr_zero(bits);
            uint64_t any = 0;
            for (int i = 0; i < 8; ++i) {
                uint64_t eight;
                std::memcpy(&eight, &r.history[w * 64 + i * 8], 8);
                eight = shift_bytes(eight);
                std::memcpy(&r.history[w * 64 + i * 8], &eight, 8);
                any |= eight;
            }
            if (!any) r.active[a] &= ~(1ULL << (w % 64));
        }
    }
    r.hot_words.clear();
    if (!dirty) return 0;
    const uint8_t hot_mask = uint8_t((1u << k_) - 1);
    uint64_t count = 0;
    dirty->for_each_word([&](uint64_t w, uint64_t bits) {
        if (w * 64 >= r.history.size()) return;
        count += std::popcount(bits);
        r.active[w / 64] |= 1ULL << (w % 64);
        uint64_t hot = 0;
        int repeated = 0;
        for (uint64_t b = bits; b; b &= b - 1) {
            const int i = std::countr_zero(b);
            uint8_t& h = r.history[w * 64 + i];
            h |= 1;
            if ((h & hot_mask) == hot_mask) {
                hot |= 1ULL << i;
                repeated += (h & 3) == 3;
            }
        }
        if (hot) r.hot_words.push_back({w, hot, 0, repeated});
    });
    return count;
}

void HotPageDeferral::choose(RegionState& r, uint64_t& left, bool kept_before) {
    for (HotWord& hw : r.hot_words) {
        if (!left) return;
        const uint64_t before = hw.word < r.keep.size() ? r.keep[hw.word] : 0;
        const uint64_t candidates = hw.hot & (kept_before ? before : ~before) & ~hw.keep;
        const uint64_t chosen = lowest_bits(candidates, left);
        hw.keep |= chosen;
        left -= std::popcount(chosen);
    }
}

void HotPageDeferral::store_keep(RegionState& r) {
    for (uint64_t w : r.kept_words) r.keep[w] = 0;
    r.kept_words.clear();
    for (const HotWord& hw : r.hot_words) {
        if (!hw.keep) continue;
        if (r.keep.empty()) r.keep.assign(r.history.size() / 64, 0);
        r.keep[hw.word] = hw.keep;
        r.kept_words.push_back(hw.word);
        kept_pages_ += std::popcount(hw.keep);
    }
}

DeferralPlan HotPageDeferral::plan(std::span<const DirtyBitmap* const> dirty, double capacity) {
    DeferralPlan p{.round = ++observed_};
    for (size_t i = 0; i < regions_.size(); ++i) {
        p.dirty += observe(regions_[i], i < dirty.size() ? dirty[i] : nullptr);
        for (const HotWord& hw : regions_[i].hot_words) {
            p.hot += std::popcount(hw.hot);
            p.repeated += hw.repeated;
        }
    }
    const double budget = capacity - double(p.dirty - p.repeated);
    p.budget = budget > 0 ? uint64_t(std::floor(std::min(budget, 1e18))) : 0;
    uint64_t left = uint64_t(
        std::floor(deferred_pages(observed_, k_, double(p.dirty), double(p.hot), double(p.repeated), capacity)));
    // Pages kept at the last plan and still hot stay kept first: sending one
    // now would spend the link on a page that is dirty again by the end.
    for (RegionState& r : regions_) choose(r, left, /*kept_before=*/true);
    for (RegionState& r : regions_) choose(r, left, /*kept_before=*/false);
    kept_pages_ = 0;
    for (RegionState& r : regions_) store_keep(r);
    p.deferred = kept_pages_;
    return p;
}

void HotPageDeferral::release_all() {
    for (RegionState& r : regions_) {
        for (uint64_t w : r.kept_words) r.keep[w] = 0;
        r.kept_words.clear();
        r.hot_words.clear();
    }
    kept_pages_ = 0;
}

std::span<const uint64_t> HotPageDeferral::keep(size_t region) const {
    if (region >= regions_.size() || regions_[region].kept_words.empty()) return {};
    return regions_[region].keep;
}

bool HotPageDeferral::was_dirty(size_t region, uint64_t page, int rounds_ago) const {
    if (region >= regions_.size() || page >= regions_[region].pages || rounds_ago < 0 || rounds_ago > 7) return false;
    return regions_[region].history[page] & (1u << rounds_ago);
}

}  // namespace dtrack
