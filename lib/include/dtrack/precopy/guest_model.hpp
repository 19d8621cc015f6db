// ModelGuest: a guest described by a few numbers, for `dtrack simulate --model`.
//
// A 1 TiB guest has 268M pages, too many to mark one by one, so the model
// keeps expected counts. Writes land uniformly at random on the working set
// (or on its hot and cold parts, each uniformly, with `hot_share` of the
// writes going to the hot part). A part of W pages that takes n writes has
// W * (1 - exp(-n / W)) distinct pages dirtied (distinct_pages()); pages
// written since the last harvest are independent of the dirty set, so a
// harvest adds that share of the part's clean pages. Each part's pages lie
// evenly over memory, so a background sync in the middle of a round adds
// the share ahead of the sender's sweep to that round, as the real bitmap
// does.
//
// The throttle follows QEMU and dtvm: it holds each vCPU `pct`% of the time.
// A vCPU that writes `peak` bytes/s when it runs flat out writes at most
// peak * (1 - pct/100); a guest that writes below its peak (it idles, or
// waits) is slowed only once that falls under its own rate:
//     rate(pct) = min(rate, vcpus * peak * (1 - pct / 100)).
// Without `peak` the vCPUs are taken to be busy writing (peak = rate/vcpus),
// and then rate(pct) = rate * (1 - pct / 100).
//
// The dirty limit holds each vCPU its own share s of the time it runs; the
// model's vCPUs write alike, so each writes
//     min(rate / vcpus, peak * (1 - pct / 100) * (1 - s)).
//
// Zero pages: memory that never held data (zero=) is sent as a flag in round
// 1; everything else is taken to hold data.
//
// Hot-page deferral: each part remembers the share of its pages dirty at the
// last 8 round syncs; writes land on pages independently of earlier rounds,
// so the expected pages dirty at each of the last k syncs are the product of
// k shares (plus those already deferred, which stay dirty). Deferred pages
// stay in the dirty set, out of the sweeps, and take no new dirtying.
#pragma once

#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/precopy/simulation.hpp"
#include "dtrack/export.hpp"

DTRACK_PUBLIC_BEGIN

namespace dtrack::precopy {

struct GuestModel {
    uint64_t memory_bytes = 0;
    uint32_t vcpus = 1;
    uint64_t working_set_bytes = 0;
    double rate = 0;          // page writes per second, in bytes, all vCPUs together
    double peak = 0;          // one vCPU's rate when it runs flat out, bytes/s; 0: rate / vcpus
    uint64_t hot_bytes = 0;   // the hot part of the working set; 0: writes are uniform over all of it
    double hot_share = 0.9;   // of the writes, to the hot part
    uint64_t zero_bytes = 0;  // memory outside the working set that holds only zeros
    uint64_t page_size = 4096;

    double peak_per_vcpu() const { return peak > 0 ? peak : rate / double(vcpus ? vcpus : 1); }
    // The guest's write rate (bytes/s) with its vCPUs held `held_pct`% of the time.
    double rate_when_held(int held_pct) const;
    std::string describe() const;
};

// "mem=1T,vcpus=128,wss=200G,rate=3G[,hot=20G,hot-share=90%][,peak=100M][,zero=64M]".
// Sizes as parse_size takes them (binary multiples); rate and peak are bytes
// per second as parse_bytes_per_second takes them ("3G", "3G/s", or bits:
// "24Gbit"; "3Gb" is refused as ambiguous); shares as "90%" or "0.9". An
// error names the key and the fix.
Result<GuestModel> parse_guest_model(const std::string& spec);
// The checks parse_guest_model makes, for models built in code.
Status check_guest_model(const GuestModel& model);

// Distinct pages dirtied by `writes` uniform random page writes over `pages` pages.
double distinct_pages(double pages, double writes);

class ModelGuest : public SimulatedGuest {
public:
    explicit ModelGuest(GuestModel model);

    std::string describe() const override { return "model: " + model_.describe(); }
    uint64_t page_size() const override { return model_.page_size; }
    uint64_t memory_pages() const override { return model_.memory_bytes / model_.page_size; }
    void run(std::chrono::nanoseconds d, int held_pct) override;
    Result<uint64_t> harvest(Tracker& tracker) override;
    double dirty_pages() const override;
    void discard_dirty() override;
    void begin_sweep(bool every_page) override;
    SimulatedPages ahead() const override;
    SimulatedPages take(double fraction) override;
    // Pages are independent and uniform within a part, so a page of a part
    // is dirty at each of the last k round syncs with the product of the
    // part's dirty shares at them; deferred pages stay dirty.
    void observe_dirty() override;
    double hot_pages(int k) const override;
    void defer(double pages) override;
    Status limit_vcpus() override;  // its vcpus=, each writing rate / vcpus

private:
    double limited_rate(int held_pct, double seconds);
    // A hot or cold part of the working set.
    struct Part {
        double pages = 0;
        double write_share = 0;
        double writes = 0;           // since the last harvest
        double ahead = 0;            // in the dirty set, ahead of the sweep
        double behind = 0;           // in the dirty set, behind it: the next round's
        double deferred = 0;         // in the dirty set, kept out of the sweeps (hot-page deferral)
        double dirty_share[8] = {};  // of its other pages, dirty at the last 8 round syncs ([0]: the last)
        double hot = 0;              // its share of the last defer()'s pages
    };
    GuestModel model_;
    Part parts_[2];
    int part_count_ = 1;
    double sweep_ = 1;  // the share of memory this round has swept
    bool every_page_ = false;
    double unreported_ = 0;  // fractions of pages a harvest could not report yet
};

}  // namespace dtrack::precopy

DTRACK_PUBLIC_END
