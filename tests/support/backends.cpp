#include <atomic>

#include "support/backends.hpp"

namespace dtrack_test {
namespace {

std::atomic<int> ran_on_kvm{0}, ran_on_process{0};

}  // namespace

const std::string& kvm_unusable_reason() {
    static const std::string reason = [] {
        const dtrack::Status s = dtvm::kvm_usable();
        return s ? std::string() : s.error().what;
    }();
    return reason;
}

void note_backend_ran(dtvm::Backend backend) { ++(backend == dtvm::Backend::kvm ? ran_on_kvm : ran_on_process); }

std::string backends_summary() {
    std::string s = "dtvm backends: process ran " + std::to_string(ran_on_process.load()) + " tests, kvm ";
    if (!kvm_unusable_reason().empty()) return s + "skipped (" + kvm_unusable_reason() + ")";
    return s + "ran " + std::to_string(ran_on_kvm.load()) + " tests";
}

}  // namespace dtrack_test
