#include "dtvm/vm/guest_memory.hpp"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>
#include <string>
#include <utility>

namespace dtvm {

dtrack::Result<GuestMemory> GuestMemory::map(uint64_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return dtrack::errno_error("mmap of " + std::to_string(bytes >> 20) + " MiB guest RAM", errno,
                                   "ask for less guest memory");
    return GuestMemory(static_cast<uint8_t*>(p), bytes);
}

GuestMemory::GuestMemory(GuestMemory&& other) noexcept
    : host_(std::exchange(other.host_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

GuestMemory& GuestMemory::operator=(GuestMemory&& other) noexcept {
    if (this != &other) {
        if (host_) ::munmap(host_, bytes_);
        host_ = std::exchange(other.host_, nullptr);
        bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
}

GuestMemory::~GuestMemory() {
    if (host_) ::munmap(host_, bytes_);
}

std::vector<Slot> split_into_slots(const GuestMemory& memory, uint32_t count) {
    std::vector<Slot> slots;
    const uint64_t each = memory.pages() / count;
    uint64_t page = 0;
    for (uint32_t id = 0; id < count; ++id) {
        const uint64_t pages = id + 1 == count ? memory.pages() - page : each;
        slots.push_back(Slot{id, page << 12, pages, memory.host() + (page << 12)});
        page += pages;
    }
    return slots;
}

dtrack::Status register_slots(int vm_fd, const std::vector<Slot>& slots, bool dirty_logging) {
    for (const Slot& s : slots) {
        kvm_userspace_memory_region region{};
        region.slot = s.id;
        region.flags = dirty_logging ? KVM_MEM_LOG_DIRTY_PAGES : 0;
        region.guest_phys_addr = s.gpa;
        region.memory_size = s.pages << 12;
        region.userspace_addr = reinterpret_cast<uint64_t>(s.host);
        if (::ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0)
            return dtrack::errno_error("KVM_SET_USER_MEMORY_REGION (slot " + std::to_string(s.id) + ")", errno,
                                       "use fewer memslots (KVM_CAP_NR_MEMSLOTS) or less guest memory");
    }
    return dtrack::Ok{};
}

}  // namespace dtvm
