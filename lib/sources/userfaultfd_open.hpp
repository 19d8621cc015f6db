// Opening a userfaultfd however this process may: shared by UffdSource and
// the doctor's probe.
#pragma once

#include <cstdint>
#include <string>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack {

// `how` says which way worked: "userfaultfd()", "userfaultfd(UFFD_USER_MODE_ONLY)", "/dev/userfaultfd".
Result<UniqueFd> open_userfaultfd(std::string& how);

// The features the kernel offers. UFFDIO_API is a one-time handshake, so
// this asks on a userfaultfd of its own.
Result<uint64_t> userfaultfd_features();

}  // namespace dtrack
