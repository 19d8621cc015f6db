#include "working_set_windows.hpp"

#include <algorithm>

namespace dtrack::cli::sidecar {

WorkingSetWindows::WorkingSetWindows(std::chrono::nanoseconds longest_window) : longest_(longest_window) {}

uint32_t& WorkingSetWindows::last_interval_of(RegionId region, uint64_t page) {
    const uint64_t key = uint64_t(region) << 40 | page / pages_per_chunk;
    if (key != cached_key_) {
        std::unique_ptr<Chunk>& chunk = chunks_[key];
        if (!chunk) chunk = std::make_unique<Chunk>(Chunk{});
        cached_key_ = key;
        cached_chunk_ = chunk.get();
    }
    return (*cached_chunk_)[page % pages_per_chunk];
}

void WorkingSetWindows::mark(RegionId region, uint64_t page) {
    uint32_t& last = last_interval_of(region, page);
    if (last == current_) return;  // already counted in this interval
    // Move the page from the interval that last dirtied it, if still remembered.
    const uint32_t first_remembered = current_ - uint32_t(closed_.size());
    if (last != 0 && last >= first_remembered) --closed_[last - first_remembered].last_dirtied_here;
    last = current_;
    ++current_count_;
}

void WorkingSetWindows::close_interval(TimePoint end) {
    closed_.push_back({end, current_count_});
    ++current_;
    current_count_ = 0;
    size_t forgotten = 0;
    while (closed_.size() > 1 && closed_.front().end <= end - longest_) {
        closed_.pop_front();
        ++forgotten;
    }
    // Now and then, free the chunks whose pages all fell out of every window.
    if (forgotten && current_ % 64 == 0) forget_chunks_older_than(current_ - uint32_t(closed_.size()));
}

void WorkingSetWindows::forget_chunks_older_than(uint32_t first_kept) {
    for (auto it = chunks_.begin(); it != chunks_.end();) {
        const Chunk& c = *it->second;
        if (std::all_of(c.begin(), c.end(), [&](uint32_t last) { return last < first_kept; })) it = chunks_.erase(it);
        else ++it;
    }
    cached_key_ = ~0ULL;
    cached_chunk_ = nullptr;
}

uint32_t WorkingSetWindows::first_interval_in(std::chrono::nanoseconds window) const {
    uint32_t first = current_;
    if (closed_.empty()) return first;
    const TimePoint since = closed_.back().end - window;
    for (auto it = closed_.rbegin(); it != closed_.rend() && it->end > since; ++it) --first;
    return first;
}

uint64_t WorkingSetWindows::distinct_pages_where(std::chrono::nanoseconds window,
                                                 const std::function<bool(RegionId, uint64_t)>& keep) const {
    const uint32_t first = first_interval_in(window);
    uint64_t pages = 0;
    for (const auto& [key, chunk] : chunks_) {
        const RegionId region = RegionId(key >> 40);
        const uint64_t first_page = (key & ((1ULL << 40) - 1)) * pages_per_chunk;
        for (uint64_t i = 0; i < pages_per_chunk; ++i) {
            const uint32_t last = (*chunk)[i];
            // In a closed interval of the window (not the one being recorded).
            if (last >= first && last < current_ && keep(region, first_page + i)) ++pages;
        }
    }
    return pages;
}

uint64_t WorkingSetWindows::distinct_pages(std::chrono::nanoseconds window) const {
    if (closed_.empty()) return 0;
    const TimePoint since = closed_.back().end - window;
    uint64_t pages = 0;
    for (auto it = closed_.rbegin(); it != closed_.rend() && it->end > since; ++it) pages += it->last_dirtied_here;
    return pages;
}

}  // namespace dtrack::cli::sidecar
