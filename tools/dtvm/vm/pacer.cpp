#include "dtvm/vm/pacer.hpp"

#include <algorithm>

namespace dtvm {

void Pacer::restart(Clock::time_point now, uint64_t writes) {
    rate_start_ = now;
    rate_start_writes_ = writes;
    slice_start_ = now;
    slice_ran_ = Clock::duration::zero();
    ran_since_ = now;
    slice_starts_on_wake_ = false;
    since_ring_full_ = now;
}

namespace {

// s / (1 - s) of `ran`: the sleep that makes `ran` the (1 - s) share.
Pacer::Clock::duration sleep_for(Pacer::Clock::duration ran, double share) {
    return std::chrono::duration_cast<Pacer::Clock::duration>(ran * (share / (1 - share)));
}

}  // namespace

Pacer::Clock::time_point Pacer::wake_time(Clock::time_point now, uint64_t writes, double sleep_share) {
    Clock::time_point wake = now;
    slice_ran_ += now - ran_since_;

    if (rate_ != 0) {
        // When the writes so far are due at this rate; 128-bit so that
        // no count of writes can overflow the multiplication.
        const unsigned __int128 ns = (unsigned __int128)(writes - rate_start_writes_) * 1'000'000'000u / rate_;
        const Clock::time_point due = rate_start_ + std::chrono::nanoseconds(static_cast<int64_t>(ns));
        if (due > now) wake = due;
        else if (now - due > kMaxRateLag) {
            rate_start_ = now;
            rate_start_writes_ = writes;
        }
    }

    const double share = std::clamp(sleep_share, 0.0, kMaxShare);
    if (share <= 0) {
        slice_start_ = now;
        slice_ran_ = Clock::duration::zero();
    } else {
        const auto budget = std::chrono::duration_cast<Clock::duration>(
            std::chrono::duration<double, std::nano>(std::chrono::nanoseconds(kSlice).count() * (1 - share)));
        if (slice_ran_ >= budget) {
            // Used up its share of the slice: off long enough that it ran only
            // (1 - s) of the time, also when one stretch between two exits
            // ran past the whole budget (at 99% the budget is 0.1 ms, shorter
            // than a stretch of exit_every writes). The next slice starts
            // when it runs again.
            const Clock::duration off_needed = sleep_for(slice_ran_, share);
            const Clock::duration off_so_far = (now - slice_start_) - slice_ran_;
            if (off_needed > off_so_far) wake = std::max(wake, now + (off_needed - off_so_far));
            slice_starts_on_wake_ = true;
        } else if (now - slice_start_ >= kSlice) {
            slice_start_ = now;  // the slice ended with time to spare
            slice_ran_ = Clock::duration::zero();
        }
    }

    return wake;
}

Pacer::Clock::time_point Pacer::ring_full_wake_time(Clock::time_point now, double sleep_share) {
    const double share = std::clamp(sleep_share, 0.0, kMaxShare);
    // Everything since the last ring-full sleep counts, sleeps for the rate
    // limit included: the share is of time, as the dirty limit measures it.
    const Clock::time_point wake = share <= 0 ? now : now + sleep_for(now - since_ring_full_, share);
    since_ring_full_ = wake;
    return wake;
}

void Pacer::running(Clock::time_point now) {
    ran_since_ = now;
    if (slice_starts_on_wake_) {
        slice_starts_on_wake_ = false;
        slice_start_ = now;
        slice_ran_ = Clock::duration::zero();
    }
}

}  // namespace dtvm
