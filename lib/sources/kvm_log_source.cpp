#include "dtrack/kvm_log_source.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sources/kvm_ioctl.hpp"

#include <bit>
#include <cerrno>
#include <chrono>
#include <utility>

namespace dtrack {

Result<std::unique_ptr<KvmLogSource>> KvmLogSource::enable(int vm_fd, Tracker& tracker, KvmLogOptions options) {
    bool manual = false;
    // Asked even without manual_protect: it also proves vm_fd is a VM's.
    const int flags = ::ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    if (flags < 0) return kvm::vm_fd_error(vm_fd, "KVM_CHECK_EXTENSION(MANUAL_DIRTY_LOG_PROTECT2)", errno);
    if (options.manual_protect) {
        const int want = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET;
        if (flags > 0 && (flags & want) == want) {
            kvm_enable_cap ec{};
            ec.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2;
            ec.args[0] = want;
            if (::ioctl(vm_fd, KVM_ENABLE_CAP, &ec) < 0)
                return errno_error("KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2)", errno,
                                   "enable it before memslots with dirty logging exist");
            manual = true;
        }
    }
    auto source = std::unique_ptr<KvmLogSource>(new KvmLogSource(vm_fd, manual));
    for (RegionId id = 0; id < tracker.region_count(); ++id) {
        const Region& r = tracker.region(id);
        if (r.space != AddressSpace::guest_physical) continue;
        const size_t words = (r.page_count + 63) / 64;
        auto kernel = GuardedWords::map(words);
        if (!kernel) return kernel.error();
        source->slots_.push_back(Slot{id, r.slot, r.page_count, std::move(kernel.value()), std::vector<uint64_t>(words),
                                      std::vector<uint64_t>(words)});
    }
    return source;
}

Result<KvmLogSource::GuardedWords> KvmLogSource::GuardedWords::map(size_t words) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    const size_t data = (words * sizeof(uint64_t) + page - 1) / page * page;
    void* base = ::mmap(nullptr, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return errno_error("mmap of a dirty-log buffer", errno);
    char* guard = static_cast<char*>(base) + data;
    if (::mprotect(guard, page, PROT_NONE) < 0) {
        const int err = errno;
        ::munmap(base, data + page);
        return errno_error("mprotect of a dirty-log guard page", err);
    }
    return GuardedWords(base, data + page, reinterpret_cast<uint64_t*>(guard) - words, words);
}

KvmLogSource::GuardedWords::GuardedWords(GuardedWords&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), bytes_(other.bytes_), first_(other.first_), count_(other.count_) {}

KvmLogSource::GuardedWords::~GuardedWords() {
    if (base_) ::munmap(base_, bytes_);
}

Result<HarvestReport> KvmLogSource::harvest(Tracker& tracker) {
    std::lock_guard lock(mutex_);
    HarvestReport report;
    const auto start = std::chrono::steady_clock::now();
    for (Slot& s : slots_) {
        const std::span<uint64_t> kernel = s.kernel.words();
        kvm_dirty_log log{};
        log.slot = s.slot;
        log.dirty_bitmap = kernel.data();
        if (kvm::ioctl_retry(vm_fd_, KVM_GET_DIRTY_LOG, &log) < 0) {
            const int err = errno;
            const std::string call = "KVM_GET_DIRTY_LOG(slot " + std::to_string(s.slot) + ")";
            if (err != EFAULT) return errno_error(call, err, "create the memslot with KVM_MEM_LOG_DIRTY_PAGES");
            // The memslot's bitmap did not fit: the memslot is larger than its
            // Region. Without manual protection the kernel already took the
            // bits and re-protected the pages: cover them (never lose).
            tracker.bitmap(s.region).mark_range(0, s.pages);
            return errno_error(call, err,
                               "memslot " + std::to_string(s.slot) + " holds more pages than its Region (" +
                                   std::to_string(s.pages) +
                                   "), and KVM copies the memslot's whole bitmap: give the Region the memslot's "
                                   "page count");
        }
        // A page counts once per dirtying: with manual protection the kernel
        // keeps reporting it until it is cleared.
        uint64_t fresh_reports = 0;
        for (size_t w = 0; w < kernel.size(); ++w) {
            const uint64_t news = kernel[w] & ~s.reported[w];
            fresh_reports += std::popcount(news);
            if (manual_protect_) s.reported[w] |= news;
        }
        report.pages += fresh_reports;
        report.add_region(s.region, fresh_reports);
        report.new_dirty += tracker.bitmap(s.region).or_words(0, kernel);
    }
    report.cost = std::chrono::steady_clock::now() - start + std::exchange(clear_cost_, {});
    return report;
}

Status KvmLogSource::prepare_take(RegionId region, uint64_t first_page, uint64_t count) {
    return prepare_take_keeping(region, first_page, count, {});
}

Status KvmLogSource::prepare_take_keeping(RegionId region, uint64_t first_page, uint64_t count,
                                          std::span<const uint64_t> keep) {
    if (!manual_protect_) return Ok{};
    std::lock_guard lock(mutex_);
    const auto start = std::chrono::steady_clock::now();
    struct AddCost {  // the clears are harvest cost too, reported with the next harvest
        std::chrono::steady_clock::time_point start;
        std::chrono::nanoseconds& total;
        ~AddCost() { total += std::chrono::steady_clock::now() - start; }
    } add_cost{start, clear_cost_};
    for (Slot& s : slots_) {
        if (s.region != region) continue;
        const uint64_t pages = s.pages;
        if (first_page >= pages || count == 0) return Ok{};
        // KVM_CLEAR_DIRTY_LOG wants first_page 64-aligned; clear only what was
        // reported and is not kept, one call per run of words that hold such
        // pages. A kept page stays reported and set in the kernel's bitmap, so
        // the next harvests neither count it again nor lose it, and the guest
        // keeps writing it without a fault until a take clears it.
        auto to_clear = [&](uint64_t w) { return s.reported[w] & ~(w < keep.size() ? keep[w] : 0); };
        uint64_t w = first_page / 64;
        const uint64_t w_end = std::min<uint64_t>((first_page + count + 63) / 64, s.reported.size());
        while (w < w_end) {
            if (!to_clear(w)) {
                ++w;
                continue;
            }
            uint64_t run_end = w;
            for (; run_end < w_end && to_clear(run_end); ++run_end) s.clearing[run_end - w] = to_clear(run_end);
            kvm_clear_dirty_log clear{};
            clear.slot = s.slot;
            clear.first_page = w * 64;
            clear.num_pages = static_cast<uint32_t>(std::min<uint64_t>((run_end - w) * 64, pages - w * 64));
            clear.dirty_bitmap = s.clearing.data();
            if (kvm::ioctl_retry(vm_fd_, KVM_CLEAR_DIRTY_LOG, &clear) < 0)
                return errno_error("KVM_CLEAR_DIRTY_LOG(slot " + std::to_string(s.slot) + ")", errno);
            ++clear_calls_;
            for (uint64_t i = w; i < run_end; ++i) s.reported[i] &= ~s.clearing[i - w];
            w = run_end;
        }
        return Ok{};
    }
    return Ok{};
}

uint64_t KvmLogSource::clear_calls() const {
    std::lock_guard lock(mutex_);
    return clear_calls_;
}

}  // namespace dtrack
