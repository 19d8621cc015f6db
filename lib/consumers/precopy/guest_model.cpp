#include "dtrack/precopy/guest_model.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "dtrack/units.hpp"

namespace dtrack::precopy {

namespace {

const char* const model_example = "mem=64G,vcpus=16,wss=8G,rate=1G";
const char* const model_keys = "mem, vcpus, wss, rate (required but vcpus) and hot, hot-share, peak, zero";

Error bad_model(const std::string& what, const std::string& fix) { return Error{EINVAL, "--model: " + what, fix}; }

// A size (mem=64G) or, `per_second`, a rate in bytes/s (rate=1G, 1G/s, 8Gbit).
Result<uint64_t> size_of(const std::string& key, const std::string& value, bool per_second) {
    if (!value.empty() && value[0] == '-')
        return bad_model(key + "=" + value + " is negative", "give " + key + " as a size such as 4G");
    auto size = per_second ? parse_bytes_per_second(value, key) : parse_size(value, key);
    if (!size) return bad_model(size.error().what, size.error().fix);
    return *size;
}

// "90%" or "0.9".
Result<double> share_of(const std::string& key, const std::string& value) {
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() && *end == '%' && end[1] == 0) v /= 100;
    else if (end == value.c_str() || *end != 0) v = -1;
    if (!(v >= 0 && v <= 1))
        return bad_model(key + "=" + value + " is not a share from 0 to 100%", "write it like " + key + "=90%");
    return v;
}

std::string per_s(double bytes) { return format_bytes(bytes) + "/s"; }

}  // namespace

double distinct_pages(double pages, double writes) {
    if (pages <= 0) return 0;
    return pages * -std::expm1(-writes / pages);
}

double GuestModel::rate_when_held(int held_pct) const {
    const double running = std::clamp(100 - held_pct, 0, 100) / 100.0;
    return std::min(rate, double(vcpus) * peak_per_vcpu() * running);
}

std::string GuestModel::describe() const {
    std::string s = format_bytes(double(memory_bytes)) + ", " + std::to_string(vcpus) + " vCPUs, " +
                    (hot_bytes ? "hot/cold" : "uniform") + " writes over " + format_bytes(double(working_set_bytes)) +
                    " at " + per_s(rate);
    if (hot_bytes)
        s += " (" + std::to_string(std::lround(hot_share * 100)) + "% of them to " + format_bytes(double(hot_bytes)) +
             ")";
    if (peak > 0) s += ", a vCPU flat out " + per_s(peak);
    if (zero_bytes) s += ", " + format_bytes(double(zero_bytes)) + " of zero pages";
    return s;
}

Status check_guest_model(const GuestModel& m) {
    if (m.memory_bytes < m.page_size)
        return bad_model("mem is missing or smaller than a page",
                         std::string("give the guest's memory: ") + model_example);
    if (m.vcpus == 0) return bad_model("vcpus=0: a guest has at least one vCPU", "give vcpus=1 or more");
    if (m.working_set_bytes == 0)
        return bad_model("wss is missing or zero",
                         std::string("give the working set the guest writes: ") + model_example);
    if (m.working_set_bytes > m.memory_bytes)
        return bad_model("wss=" + format_bytes(double(m.working_set_bytes)) +
                             " is larger than mem=" + format_bytes(double(m.memory_bytes)),
                         "the working set is part of the memory: lower wss or raise mem");
    if (!(m.rate >= 0) || !std::isfinite(m.rate))
        return bad_model("rate is missing",
                         std::string("give the guest's page writes per second in bytes: ") + model_example);
    if (m.hot_bytes > m.working_set_bytes)
        return bad_model("hot=" + format_bytes(double(m.hot_bytes)) + " is larger than wss",
                         "the hot part is part of the working set: lower hot");
    if (!(m.hot_share >= 0 && m.hot_share <= 1))
        return bad_model("hot-share is not a share", "give e.g. hot-share=90%");
    if (m.zero_bytes > m.memory_bytes - m.working_set_bytes)
        return bad_model(
            "zero=" + format_bytes(double(m.zero_bytes)) + " is more than the memory outside the working set",
            "zero pages are memory the guest never writes: at most mem - wss");
    if (m.peak > 0 && m.peak * m.vcpus < m.rate)
        return bad_model("peak=" + per_s(m.peak) + " per vCPU is below rate / vcpus: the vCPUs cannot write that fast",
                         "give peak as one vCPU's rate when it runs flat out, at least rate / vcpus");
    return Ok{};
}

Result<GuestModel> parse_guest_model(const std::string& spec) {
    GuestModel m;
    m.rate = -1;  // missing until given
    std::map<std::string, bool> seen;
    std::string hot_text;
    size_t at = 0;
    while (at <= spec.size()) {
        const size_t comma = std::min(spec.find(',', at), spec.size());
        const std::string item = spec.substr(at, comma - at);
        at = comma + 1;
        if (item.empty()) {
            if (comma == spec.size()) break;
            return bad_model("an empty item in '" + spec + "'",
                             std::string("write key=value items separated by commas: ") + model_example);
        }
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
            return bad_model("'" + item + "' is not key=value", std::string("write it like ") + model_example);
        const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
        if (seen[key]) return bad_model(key + " is given twice", "give each key once");
        seen[key] = true;
        if (key == "mem" || key == "wss" || key == "zero") {
            auto v = size_of(key, value, false);
            if (!v) return v.error();
            (key == "mem" ? m.memory_bytes : key == "wss" ? m.working_set_bytes : m.zero_bytes) = *v;
        } else if (key == "rate" || key == "peak") {
            auto v = size_of(key, value, true);
            if (!v) return v.error();
            (key == "rate" ? m.rate : m.peak) = double(*v);
        } else if (key == "vcpus") {
            auto v = parse_count(value, "vcpus");
            if (!v || *v > 1'000'000 || value[0] == '-')
                return bad_model("vcpus=" + value + " is not a vCPU count", "give e.g. vcpus=16");
            m.vcpus = uint32_t(*v);
        } else if (key == "hot") {
            hot_text = value;  // a size or a share of wss, once wss is known
        } else if (key == "hot-share") {
            auto v = share_of(key, value);
            if (!v) return v.error();
            m.hot_share = *v;
        } else {
            return bad_model("unknown key '" + key + "'", std::string("the keys are ") + model_keys);
        }
        if (comma == spec.size()) break;
    }
    if (!hot_text.empty()) {
        if (hot_text.ends_with("%")) {
            auto v = share_of("hot", hot_text);
            if (!v) return v.error();
            m.hot_bytes = uint64_t(std::llround(*v * double(m.working_set_bytes)));
        } else {
            auto v = size_of("hot", hot_text, false);
            if (!v) return v.error();
            m.hot_bytes = *v;
        }
    }
    if (Status s = check_guest_model(m); !s) return s.error();
    return m;
}

// --- the simulated guest --------------------------------------------------------------

ModelGuest::ModelGuest(GuestModel model) : model_(model) {
    const double page = double(model_.page_size);
    const double wss = double(model_.working_set_bytes) / page;
    const double hot = double(model_.hot_bytes) / page;
    if (hot > 0 && hot < wss) {
        parts_[0] = Part{.pages = hot, .write_share = model_.hot_share};
        parts_[1] = Part{.pages = wss - hot, .write_share = 1 - model_.hot_share};
        part_count_ = 2;
    } else {
        parts_[0] = Part{.pages = wss, .write_share = 1};
    }
}

Status ModelGuest::limit_vcpus() {
    vcpus_.limit(model_.vcpus);
    return Ok{};
}

// Under a dirty limit each vCPU writes its share of the rate, capped as the
// throttle caps it, and held its own share of the rest of each slice.
double ModelGuest::limited_rate(int held_pct, double seconds) {
    const double running = std::clamp(100 - held_pct, 0, 100) / 100.0;
    const double own = model_.rate / double(model_.vcpus);
    double rate = 0;
    for (uint32_t v = 0; v < model_.vcpus; ++v) {
        const double r = std::min(own, model_.peak_per_vcpu() * running * (1 - vcpus_.share(v)));
        vcpus_.wrote(v, r * seconds);
        rate += r;
    }
    return rate;
}

void ModelGuest::run(std::chrono::nanoseconds d, int held_pct) {
    const double seconds = std::chrono::duration<double>(d).count();
    const double rate = vcpus_.limited() ? limited_rate(held_pct, seconds) : model_.rate_when_held(held_pct);
    const double writes = rate / double(model_.page_size) * seconds;
    for (int i = 0; i < part_count_; ++i) parts_[i].writes += writes * parts_[i].write_share;
}

Result<uint64_t> ModelGuest::harvest(Tracker&) {
    // Writes since the last harvest touch each page of a part with the same
    // probability, whatever is in the dirty set: they add that share of its
    // clean pages, ahead of the sweep and behind it. Between two rounds
    // (every page mode or a finished sweep) all of it waits for the next one.
    const double swept = every_page_ ? 1.0 : sweep_;
    double fresh = 0, written = 0;
    for (int i = 0; i < part_count_; ++i) {
        Part& p = parts_[i];
        written += distinct_pages(p.pages, p.writes);
        const double q = p.pages > 0 ? distinct_pages(p.pages, p.writes) / p.pages : 0;
        const double sweepable = p.pages - p.deferred;  // a deferred page is dirty already
        const double ahead = q * std::max(0.0, (1 - swept) * sweepable - p.ahead);
        const double behind = q * std::max(0.0, swept * sweepable - p.behind);
        p.ahead += ahead;
        p.behind += behind;
        p.writes = 0;
        fresh += ahead + behind;
    }
    vcpus_.harvested(written);
    // The tracker counts whole pages; the fractions carry over.
    unreported_ += fresh;
    const double whole = std::floor(unreported_);
    unreported_ -= whole;
    return uint64_t(whole);
}

double ModelGuest::dirty_pages() const {
    double n = 0;
    for (int i = 0; i < part_count_; ++i) n += parts_[i].ahead + parts_[i].behind + parts_[i].deferred;
    return n;
}

void ModelGuest::discard_dirty() {
    for (int i = 0; i < part_count_; ++i) parts_[i].ahead = parts_[i].behind = parts_[i].deferred = 0;
}

namespace {

// A part's pages dirty at each of the last k syncs: the deferred ones, and
// of the others the product of the k shares.
double part_hot_pages(const double* dirty_share, double pages, double deferred, int k) {
    double all_k = 1;
    for (int r = 0; r < std::clamp(k, 1, 8); ++r) all_k *= dirty_share[r];
    return deferred + (pages - deferred) * all_k;
}

}  // namespace

void ModelGuest::observe_dirty() {
    for (int i = 0; i < part_count_; ++i) {
        Part& p = parts_[i];
        std::copy_backward(p.dirty_share, p.dirty_share + 7, p.dirty_share + 8);
        const double others = p.pages - p.deferred;
        p.dirty_share[0] = others > 0 ? std::clamp((p.ahead + p.behind) / others, 0.0, 1.0) : 0;
    }
}

double ModelGuest::hot_pages(int k) const {
    double hot = 0;
    for (int i = 0; i < part_count_; ++i)
        hot += part_hot_pages(parts_[i].dirty_share, parts_[i].pages, parts_[i].deferred, k);
    return hot;
}

void ModelGuest::defer(double pages) {
    // Each part keeps its share of `pages` by its pages dirty two syncs
    // running: the split is what matters, and the cold part's share is
    // tiny beside the hot part's for any k.
    double hot = 0;
    for (int i = 0; i < part_count_; ++i) {
        parts_[i].hot = part_hot_pages(parts_[i].dirty_share, parts_[i].pages, parts_[i].deferred, 2);
        hot += parts_[i].hot;
    }
    for (int i = 0; i < part_count_; ++i) {
        Part& p = parts_[i];
        const double want = pages > 0 && hot > 0 ? std::min(p.hot, pages * p.hot / hot) : 0;
        // More kept: out of the dirty set's pages (between rounds they are all
        // behind the finished sweep); fewer: back behind, for the next sweep.
        double more = want - p.deferred;
        if (more > 0) {
            const double from_ahead = std::min(more, p.ahead);
            p.ahead -= from_ahead;
            more -= from_ahead;
            const double from_behind = std::min(more, p.behind);
            p.behind -= from_behind;
            p.deferred += from_ahead + from_behind;
        } else {
            p.behind += -more;
            p.deferred = want;
        }
    }
}

void ModelGuest::begin_sweep(bool every_page) {
    every_page_ = every_page;
    sweep_ = 0;
    for (int i = 0; i < part_count_; ++i) {
        parts_[i].ahead += parts_[i].behind;
        parts_[i].behind = 0;
    }
}

SimulatedPages ModelGuest::ahead() const {
    if (every_page_) {
        const double left = 1 - sweep_;
        const double zero = double(model_.zero_bytes) / double(model_.page_size);
        return {double(memory_pages()) * left, zero * left};
    }
    double n = 0;
    for (int i = 0; i < part_count_; ++i) n += parts_[i].ahead;
    return {n, 0};
}

SimulatedPages ModelGuest::take(double fraction) {
    fraction = std::clamp(fraction, 0.0, 1.0);
    const SimulatedPages before = ahead();
    const SimulatedPages got{before.pages * fraction, before.zero_pages * fraction};
    // The dirty pages ahead lie evenly over the rest of memory: taking a
    // fraction of them sweeps that fraction of the rest.
    sweep_ = fraction >= 1 ? 1 : sweep_ + (1 - sweep_) * fraction;
    if (!every_page_)
        for (int i = 0; i < part_count_; ++i) parts_[i].ahead = fraction >= 1 ? 0 : parts_[i].ahead * (1 - fraction);
    return got;
}

}  // namespace dtrack::precopy
