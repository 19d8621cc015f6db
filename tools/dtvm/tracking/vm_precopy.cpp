#include "dtvm/tracking/vm_precopy.hpp"

namespace dtvm {

std::vector<dtrack::precopy::GuestMemory> guest_memory(const Vm& vm) {
    std::vector<dtrack::precopy::GuestMemory> memory;
    for (size_t i = 0; i < vm.slots().size(); ++i) {
        const Slot& s = vm.slots()[i];
        memory.push_back({.region = static_cast<dtrack::RegionId>(i),
                          .host = s.host,
                          .pages = s.pages,
                          .page_size = 4096,
                          .base = s.gpa});
    }
    return memory;
}

}  // namespace dtvm
