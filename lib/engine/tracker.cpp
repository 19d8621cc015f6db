#include "dtrack/tracker.hpp"

#include <cerrno>
#include <string>
#include <utility>

namespace dtrack {

void HarvestReport::add_vcpu(size_t vcpu, uint64_t n) {
    if (pages_per_vcpu.size() <= vcpu) pages_per_vcpu.resize(vcpu + 1);
    pages_per_vcpu[vcpu] += n;
}

void HarvestReport::add_region(RegionId region, uint64_t n) {
    if (pages_per_region.size() <= region) pages_per_region.resize(region + 1);
    pages_per_region[region] += n;
}

std::vector<uint64_t> Counters::pages_per_vcpu() const {
    std::vector<uint64_t> total;
    for (const SourceCounters& s : sources) {
        if (total.size() < s.pages_per_vcpu.size()) total.resize(s.pages_per_vcpu.size());
        for (size_t v = 0; v < s.pages_per_vcpu.size(); ++v) total[v] += s.pages_per_vcpu[v];
    }
    return total;
}

namespace {

// A memslot id KVM can have: address space 0 or 1, a slot id below 32768.
Status check_memslot_id(const Region& region) {
    const uint32_t space = region.slot >> 16, id = region.slot & 0xFFFF;
    if (space < Tracker::max_address_spaces && id < Tracker::max_slot_ids) return Ok{};
    return Error{EINVAL,
                 "region '" + region.name + "': memslot " + std::to_string(region.slot) + " (address space " +
                     std::to_string(space) + ", slot id " + std::to_string(id) + ") is not one KVM can have",
                 "set Region::slot to address space << 16 | slot id, with address space 0 or 1 and a slot id "
                 "below " +
                     std::to_string(Tracker::max_slot_ids)};
}

// A range whose last byte lies within the 64-bit address space: end() and
// contains() would wrap otherwise, and no page of it could be found.
Status check_extent(const Region& region) {
    uint64_t bytes = 0, last = 0;
    if (!__builtin_mul_overflow(region.page_count, region.page_size, &bytes) &&
        (bytes == 0 || !__builtin_add_overflow(region.base, bytes - 1, &last)))
        return Ok{};
    return Error{EINVAL,
                 "region '" + region.name + "': " + std::to_string(region.page_count) + " pages of " +
                     std::to_string(region.page_size) + " bytes from " + std::to_string(region.base) +
                     " run past the end of the 64-bit address space",
                 "pass the range's real base and page count"};
}

}  // namespace

Result<RegionId> Tracker::add_region(Region region) {
    if (Status s = check_extent(region); !s) return s.error();
    if (region.space == AddressSpace::guest_physical) {
        if (Status s = check_memslot_id(region); !s) return s.error();
        // A source files each slot's dirty pages under one region: the
        // other region of a slot listed twice would never get a dirty bit.
        RegionId first = 0;
        if (find_slot(region.slot, &first))
            return Error{EINVAL,
                         "region '" + region.name + "': memslot " + std::to_string(region.slot) +
                             " is already region " + std::to_string(first) + " ('" + regions_[first].region.name + "')",
                         "add each memslot once"};
    }
    regions_.emplace_back(std::move(region));
    std::lock_guard lock(counters_mutex_);
    counters_.pages_per_region.push_back(0);
    return static_cast<RegionId>(regions_.size() - 1);
}

Source& Tracker::add_source(std::unique_ptr<Source> source) {
    sources_.push_back(std::move(source));
    std::lock_guard lock(counters_mutex_);
    counters_.sources.push_back(SourceCounters{.name = sources_.back()->name()});
    return *sources_.back();
}

const Region* Tracker::find_slot(uint32_t slot, RegionId* id) const {
    for (size_t i = 0; i < regions_.size(); ++i) {
        const Region& r = regions_[i].region;
        if (r.space == AddressSpace::guest_physical && r.slot == slot) {
            if (id) *id = static_cast<RegionId>(i);
            return &r;
        }
    }
    return nullptr;
}

SyncReport Tracker::sync(SyncKind kind) {
    std::lock_guard sync_lock(sync_mutex_);
    SyncReport report{.kind = kind};
    if (kind == SyncKind::round) report.errors = std::exchange(unread_by_round_, {});
    const auto start = std::chrono::steady_clock::now();

    // Harvest outside the counters lock: harvests are slow, snapshots are not.
    std::vector<Result<HarvestReport>> results;
    results.reserve(sources_.size());
    for (auto& source : sources_) results.push_back(source->harvest(*this));

    std::lock_guard lock(counters_mutex_);
    for (size_t i = 0; i < results.size(); ++i) {
        SourceCounters& c = counters_.sources[i];
        ++c.harvests;
        if (!results[i]) {
            ++c.failures;
            report.errors.push_back(results[i].error());
            if (kind == SyncKind::background) unread_by_round_.push_back(results[i].error());
            continue;
        }
        const HarvestReport& h = results[i].value();
        c.pages += h.pages;
        c.new_dirty += h.new_dirty;
        c.lost += h.lost;
        c.overapproximated += h.overapproximated;
        c.estimate = c.estimate || h.estimate;
        c.cost += h.cost;
        if (c.pages_per_vcpu.size() < h.pages_per_vcpu.size()) c.pages_per_vcpu.resize(h.pages_per_vcpu.size());
        for (size_t v = 0; v < h.pages_per_vcpu.size(); ++v) c.pages_per_vcpu[v] += h.pages_per_vcpu[v];
        for (size_t r = 0; r < h.pages_per_region.size() && r < counters_.pages_per_region.size(); ++r)
            counters_.pages_per_region[r] += h.pages_per_region[r];
        report.pages += h.pages;
        report.new_dirty += h.new_dirty;
        report.lost += h.lost;
        if (h.estimate) {
            report.estimate = true;
            report.estimated_pages += h.estimated_pages;
            report.estimate_bound += h.estimate_bound;
        }
    }
    ++(kind == SyncKind::round ? counters_.syncs_round : counters_.syncs_background);
    report.duration = std::chrono::steady_clock::now() - start;
    return report;
}

void Tracker::count_round() {
    std::lock_guard lock(counters_mutex_);
    ++counters_.rounds;
}

Counters Tracker::counters() const {
    std::lock_guard lock(counters_mutex_);
    return counters_;
}

Status Tracker::prepare_take(RegionId id, uint64_t first, uint64_t count, std::span<const uint64_t> keep) {
    for (auto& source : sources_) {
        Status s = keep.empty() ? source->prepare_take(id, first, count)
                                : source->prepare_take_keeping(id, first, count, keep);
        if (!s) return s;
    }
    return Ok{};
}

}  // namespace dtrack
