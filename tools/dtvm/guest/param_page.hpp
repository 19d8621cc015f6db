// The VMM's view of one vCPU's parameter page (layout: guest_abi.hpp).
//
// The guest reads and writes it concurrently, so every access is a relaxed
// atomic 8-byte access (the guest's own accesses are aligned 8-byte moves).
#pragma once

#include <atomic>
#include <cstdint>

namespace dtvm {

class ParamPage {
public:
    explicit ParamPage(uint8_t* host = nullptr) : host_(host) {}

    uint64_t read(uint64_t offset) const { return field(offset).load(std::memory_order_relaxed); }
    void write(uint64_t offset, uint64_t value) const { field(offset).store(value, std::memory_order_relaxed); }

private:
    std::atomic_ref<uint64_t> field(uint64_t offset) const {
        return std::atomic_ref<uint64_t>(*reinterpret_cast<uint64_t*>(host_ + offset));
    }
    uint8_t* host_;
};

}  // namespace dtvm
