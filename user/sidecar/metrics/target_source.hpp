// The `source` label of dtrack_target_info: how the sidecar found a target,
// as one token a query can match (each discovery adds its own). What the
// method hooks is a sentence: the attach log line says it.
#pragma once

#include <string_view>

namespace dtrack::cli::sidecar::target_source {

inline constexpr std::string_view pid_option = "pid_option";  // --pid
inline constexpr std::string_view pid_file = "pid_file";      // a NAME.pid file in --pid-file-dir
inline constexpr std::string_view kubevirt = "kubevirt";      // --discover-kubevirt

}  // namespace dtrack::cli::sidecar::target_source
