// Opening a userfaultfd however this process may: shared by UffdSource and
// the doctor's probe.
#pragma once

#include <string>

#include "dtrack/error.hpp"
#include "dtrack/unique_fd.hpp"

namespace dtrack {

// `how` says which way worked: "userfaultfd()", "userfaultfd(UFFD_USER_MODE_ONLY)", "/dev/userfaultfd".
Result<UniqueFd> open_userfaultfd(std::string& how);

}  // namespace dtrack
