// A Vm as libdtrack's precopy Sender and Receiver see it: its memory, and
// the switch that stops and restarts its guest.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "dtrack/precopy/guest_memory.hpp"
#include "dtrack/precopy/sender.hpp"
#include "dtvm/vm/vm.hpp"

namespace dtvm {

// The guest's memory as the precopy Sender and Receiver see it: one entry per
// slot, region i = slot i (as Tracking creates them).
std::vector<dtrack::precopy::GuestMemory> guest_memory(const Vm& vm);

// The Sender stops and restarts the guest through this. It remembers since
// when the guest is stopped (the switchover, then the end), so the readers'
// progress is taken over the time the guest ran.
class VmPauser : public dtrack::precopy::VmControl {
public:
    explicit VmPauser(Vm& vm) : vm_(vm) {}
    void pause_vcpus() override {
        vm_.pause();
        paused_since_ = std::chrono::steady_clock::now();
    }
    void resume_vcpus() override {
        paused_since_.reset();
        vm_.resume();
    }
    std::optional<std::chrono::steady_clock::time_point> paused_since() const { return paused_since_; }

private:
    Vm& vm_;
    std::optional<std::chrono::steady_clock::time_point> paused_since_;
};

}  // namespace dtvm
