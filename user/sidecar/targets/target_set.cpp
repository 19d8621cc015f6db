#include "target_set.hpp"

#include "sidecar/sidecar_log.hpp"

namespace dtrack::cli::sidecar {

TargetSet::TargetSet(HarvestOptions options, std::function<void()> on_exit)
    : options_(std::move(options)), on_exit_(std::move(on_exit)) {}

TargetSet::~TargetSet() { clear(); }

Status TargetSet::attach(const std::string& target, pid_t pid, std::string_view source, const TargetLabels& labels) {
    auto harvester = TargetHarvester::start(target, pid, source, options_, on_exit_, labels);
    if (!harvester) return harvester.error();
    log_line("attached target " + harvester.value()->target() + " (pid " + std::to_string(pid) + ", " +
             harvester.value()->comm() + ", from " + std::string(source) + "): method " +
             harvester.value()->figures().method + " (" + harvester.value()->hooks() + "); " +
             harvester.value()->why());
    if (const auto& none = harvester.value()->no_vcpu_view())
        log_line("target " + harvester.value()->target() + ": no dtrack_vcpu_* series: " + none->message());
    std::unique_ptr<TargetHarvester> replaced;
    {
        std::lock_guard lock(mutex_);
        std::unique_ptr<TargetHarvester>& slot = harvesters_[harvester.value()->target()];
        replaced = std::exchange(slot, std::move(harvester.value()));
    }
    // Stopped outside the lock: its thread may be in the middle of a harvest.
    if (replaced)
        log_line("detached target " + replaced->target() + " (pid " + std::to_string(replaced->pid()) +
                 "): replaced by pid " + std::to_string(pid));
    return Ok{};
}

bool TargetSet::detach(const std::string& target) {
    std::unique_ptr<TargetHarvester> gone;
    {
        std::lock_guard lock(mutex_);
        auto it = harvesters_.find(target);
        if (it == harvesters_.end()) return false;
        gone = std::move(it->second);
        harvesters_.erase(it);
    }
    log_line("detached target " + gone->target() + " (pid " + std::to_string(gone->pid()) + ")");
    return true;
}

std::map<std::string, pid_t> TargetSet::drop_exited() {
    std::vector<std::unique_ptr<TargetHarvester>> gone;
    {
        std::lock_guard lock(mutex_);
        for (auto it = harvesters_.begin(); it != harvesters_.end();) {
            if (!it->second->exited()) {
                ++it;
                continue;
            }
            gone.push_back(std::move(it->second));
            it = harvesters_.erase(it);
            ++exited_;
        }
    }
    std::map<std::string, pid_t> dropped;
    for (const auto& h : gone) {
        log_line("target " + h->target() + " (pid " + std::to_string(h->pid()) + ", " + h->comm() +
                 ") exited; dropped");
        dropped.emplace(h->target(), h->pid());
    }
    return dropped;
}

void TargetSet::clear() {
    Harvesters all;
    {
        std::lock_guard lock(mutex_);
        all.swap(harvesters_);
    }
}

std::map<std::string, pid_t> TargetSet::pids() const {
    std::lock_guard lock(mutex_);
    std::map<std::string, pid_t> out;
    for (const auto& [name, h] : harvesters_) out.emplace(name, h->pid());
    return out;
}

std::vector<TargetFigures> TargetSet::figures() const {
    std::lock_guard lock(mutex_);
    std::vector<TargetFigures> out;
    out.reserve(harvesters_.size());
    for (const auto& [name, h] : harvesters_) out.push_back(h->figures());
    return out;
}

uint64_t TargetSet::attached() const {
    std::lock_guard lock(mutex_);
    return harvesters_.size();
}

uint64_t TargetSet::exited() const {
    std::lock_guard lock(mutex_);
    return exited_;
}

}  // namespace dtrack::cli::sidecar
