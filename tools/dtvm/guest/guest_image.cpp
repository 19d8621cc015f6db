#include "dtvm/guest/guest_image.hpp"

#include <cstring>
#include <iterator>
#include <string>

#include "dtvm/guest/guest_abi.hpp"
#include "dtvm/guest/guest_layout.hpp"

// Defined in guest.S.
extern "C" const uint8_t dtvm_guest_start[], dtvm_guest_end[];
extern "C" const uint64_t dtvm_guest_abi_table[], dtvm_guest_abi_table_end[];

namespace dtvm {

std::span<const uint8_t> guest_code() {
    return {dtvm_guest_start, static_cast<size_t>(dtvm_guest_end - dtvm_guest_start)};
}

dtrack::Status check_guest_abi() {
    const size_t n = static_cast<size_t>(dtvm_guest_abi_table_end - dtvm_guest_abi_table);
    const size_t expected = std::size(guest_abi::kAbiTable);
    if (n != expected)
        return dtrack::Error{
            0, "guest.S has " + std::to_string(n) + " ABI constants, guest_abi.hpp " + std::to_string(expected),
            "keep dtvm_guest_abi_table in guest.S in step with guest_abi.hpp"};
    for (size_t i = 0; i < n; ++i)
        if (dtvm_guest_abi_table[i] != guest_abi::kAbiTable[i])
            return dtrack::Error{0, "guest.S and guest_abi.hpp disagree on ABI constant #" + std::to_string(i),
                                 "keep the .equ values in guest.S in step with guest_abi.hpp"};
    if (guest_code().size() > GuestLayout::kCodeMaxBytes)
        return dtrack::Error{0, "the guest code is larger than its place in guest memory",
                             "raise GuestLayout::kCodeMaxBytes"};
    return dtrack::Ok{};
}

}  // namespace dtvm
