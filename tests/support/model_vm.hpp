// ModelVm: the real DirtyRingReader over a KernelRingModel, with a tracker
// holding one region per modelled memslot, a guest that writes pages the way
// a vCPU thread would (a full ring exits and is emptied, then the write goes
// on), and a write oracle: every page written since the consumer last took
// the bitmaps must be taken at the end of the epoch.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "dtrack/tracker.hpp"
#include "support/kernel_ring_model.hpp"
#include "sources/dirty_ring_reader.hpp"

namespace ring_model {

struct EpochCheck {
    uint64_t written = 0;  // distinct pages written this epoch (ground truth)
    uint64_t taken = 0;    // distinct pages the consumer took
    uint64_t lost = 0;     // written but not taken: must be 0
    uint64_t first_lost_slot = 0, first_lost_page = ~0ULL;
    dtrack::HarvestReport report;  // the epoch's final harvest
    bool harvested = false;        // false: the harvest failed (report holds nothing)
};

class ModelVm {
public:
    // `options.rearm` unset: the re-arm write-protects every page of the model;
    // `with_rearm` false: the VMM gives no way to re-arm.
    ModelVm(std::vector<ModelSlot> slots, uint32_t vcpus, uint32_t entries, dtrack::KvmRingOptions options = {},
            bool with_rearm = true)
        : kernel(slots, vcpus, entries), slots_(std::move(slots)), written_(vcpus) {
        for (const ModelSlot& s : slots_)
            tracker.add_region({.name = "slot " + std::to_string(s.id), .slot = s.id, .page_count = s.pages}).value();
        if (with_rearm && !options.rearm)
            options.rearm = [this] {
                ++rearm_calls;
                kernel.protect_all();
                return dtrack::Status(dtrack::Ok{});
            };
        reader = std::make_unique<dtrack::DirtyRingReader>(kernel, tracker, options);
        for (uint32_t v = 0; v < vcpus; ++v) {
            reader->add_ring(kernel.ring(v));
            for (const ModelSlot& s : slots_) written_[v].emplace_back(s.pages, 0);
        }
    }

    // A guest write by `vcpu` to page `page` of the `slot_index`th slot, as
    // its vCPU thread runs it: a full ring exits, the thread empties the
    // rings (on_ring_full), and the guest goes on. One vCPU per thread.
    void write(uint32_t vcpu, size_t slot_index, uint64_t page, bool emulated = false) {
        written_[vcpu][slot_index][page] = 1;
        const uint32_t slot = slots_[slot_index].id;
        if (emulated) {
            kernel.emulated_write(vcpu, slot, page);
            return;
        }
        // A vCPU that exits full again and again without the ring moving is
        // stuck: say so (stuck_vcpus) instead of spinning for ever.
        for (int exits = 0; kernel.write(vcpu, slot, page) == WriteOutcome::ring_full; ++exits) {
            if (exits == 16) {
                ++stuck_vcpus;
                return;
            }
            if (!reader->on_ring_full(vcpu, full_exit_reap)) {
                ++full_exit_errors;
                return;
            }
        }
    }

    // Ends the epoch: the vCPUs stand still, a final harvest, the consumer
    // takes every dirty page, and the oracle compares.
    EpochCheck end_epoch() {
        EpochCheck c;
        auto report = reader->harvest();
        if ((c.harvested = report.ok())) c.report = std::move(report.value());
        for (size_t i = 0; i < slots_.size(); ++i) {
            std::vector<uint8_t> taken(slots_[i].pages, 0);
            c.taken += tracker.bitmap(dtrack::RegionId(i)).take_all([&](uint64_t word, uint64_t bits) {
                for (; bits; bits &= bits - 1) taken[word * 64 + std::countr_zero(bits)] = 1;
            });
            for (uint64_t p = 0; p < slots_[i].pages; ++p) {
                bool written = false;
                for (auto& per_vcpu : written_) written |= std::exchange(per_vcpu[i][p], 0) != 0;
                c.written += written;
                if (written && !taken[p]) {
                    if (!c.lost++) c.first_lost_slot = slots_[i].id, c.first_lost_page = p;
                }
            }
        }
        return c;
    }

    uint64_t total_pages() const {
        uint64_t n = 0;
        for (const ModelSlot& s : slots_) n += s.pages;
        return n;
    }

    dtrack::Tracker tracker;
    KernelRingModel kernel;
    std::unique_ptr<dtrack::DirtyRingReader> reader;
    uint64_t rearm_calls = 0;
    dtrack::FullExitReap full_exit_reap = dtrack::FullExitReap::every_ring;  // what write()'s full exits empty
    std::atomic<uint64_t> full_exit_errors{0};
    std::atomic<uint64_t> stuck_vcpus{0};  // writes given up after 16 full exits in a row

private:
    std::vector<ModelSlot> slots_;
    std::vector<std::vector<std::vector<uint8_t>>> written_;  // [vcpu][slot index][page]: since the last take
};

}  // namespace ring_model
