#include "dtrack/kvm_ring_source.hpp"

#include <algorithm>

#include "sources/dirty_ring_reader.hpp"
#include "sources/kvm_dirty_rings.hpp"

namespace dtrack {

Result<std::unique_ptr<KvmRingSource>> KvmRingSource::enable(int vm_fd, Tracker& tracker, KvmRingOptions options) {
    auto rings = KvmDirtyRings::enable(vm_fd, options.entries, options.acq_rel);
    if (!rings) return rings.error();
    return std::unique_ptr<KvmRingSource>(new KvmRingSource(std::move(rings.value()), tracker, std::move(options)));
}

KvmRingSource::KvmRingSource(std::unique_ptr<KvmDirtyRings> rings, Tracker& tracker, KvmRingOptions options)
    : rings_(std::move(rings)),
      reader_(std::make_unique<DirtyRingReader>(*rings_, tracker, options)),
      options_(std::move(options)) {}

KvmRingSource::~KvmRingSource() { stop_reaper(); }

Status KvmRingSource::add_vcpu(int vcpu_fd, uint32_t index) {
    auto ring = rings_->map_vcpu(vcpu_fd, index);
    if (!ring) return ring.error();
    reader_->add_ring(ring.value());
    return Ok{};
}

uint32_t KvmRingSource::entries() const { return rings_->entries(); }
bool KvmRingSource::acq_rel() const { return rings_->acq_rel(); }

Result<HarvestReport> KvmRingSource::harvest(Tracker&) { return reader_->harvest(); }

Status KvmRingSource::on_ring_full(uint32_t index) { return reader_->on_ring_full(index, FullExitReap::every_ring); }

Status KvmRingSource::on_ring_full(uint32_t index, FullExitReap reap) { return reader_->on_ring_full(index, reap); }

KvmRingCounters KvmRingSource::ring_counters() const { return reader_->counters(); }

void KvmRingSource::start_reaper() {
    if (reaper_.joinable()) return;
    reaper_stop_ = false;
    reaper_ = std::thread([this] { reaper_loop(); });
}

void KvmRingSource::stop_reaper() {
    {
        std::lock_guard lock(reaper_mutex_);
        reaper_stop_ = true;
    }
    reaper_wake_.notify_all();
    if (reaper_.joinable()) reaper_.join();
}

void KvmRingSource::reaper_loop() {
    // Adapts its period to the fill level: harvest each ring when it is about
    // reaper_target_fill full, so a fast writer never waits on a full ring and
    // an idle guest costs almost nothing.
    auto period = options_.reaper_max_period / 4;
    std::unique_lock wait_lock(reaper_mutex_);
    while (!reaper_stop_) {
        reaper_wake_.wait_for(wait_lock, period, [this] { return reaper_stop_; });
        if (reaper_stop_) break;
        wait_lock.unlock();
        const double fill = double(reader_->reap()) / rings_->entries();
        if (fill > options_.reaper_target_fill) period /= 2;
        else if (fill < options_.reaper_target_fill / 4) period = period * 3 / 2;
        period = std::clamp(period, options_.reaper_min_period, options_.reaper_max_period);
        wait_lock.lock();
    }
}

}  // namespace dtrack
