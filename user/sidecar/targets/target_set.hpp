// The targets the sidecar measures, by label: attach, re-attach when a pid
// file names a new PID, detach, and drop those whose process exited (logged
// and counted). Scrapes read it from the HTTP threads, the main loop changes
// it: a harvester is stopped outside the lock, so a scrape never waits for
// one.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "target_harvester.hpp"

namespace dtrack::cli::sidecar {

class TargetSet {
public:
    // `on_exit` is called from a harvester's thread when its process exits:
    // it should wake whoever calls drop_exited().
    TargetSet(HarvestOptions options, std::function<void()> on_exit);
    ~TargetSet();

    // Attaches process `pid` as `target` (empty: COMM-PID), found by
    // `source` (metrics/target_source.hpp), replacing a target of that name
    // that has another PID; `labels` go on its info series. Errors say why
    // it may not be measured; then nothing changed.
    Status attach(const std::string& target, pid_t pid, std::string_view source, const TargetLabels& labels = {});
    // Detaches `target`; false when there is none.
    bool detach(const std::string& target);
    // Drops the targets whose process exited, with one log line each;
    // returns them, name -> PID.
    std::map<std::string, pid_t> drop_exited();
    // Detaches everything (shutdown).
    void clear();

    // Every target attached now, name -> PID.
    std::map<std::string, pid_t> pids() const;
    std::vector<TargetFigures> figures() const;
    uint64_t attached() const;
    uint64_t exited() const;

private:
    using Harvesters = std::map<std::string, std::unique_ptr<TargetHarvester>>;

    const HarvestOptions options_;
    std::function<void()> on_exit_;
    mutable std::mutex mutex_;  // guards the two below
    Harvesters harvesters_;
    uint64_t exited_ = 0;
};

}  // namespace dtrack::cli::sidecar
