// The targets of a soak: dtvm guests whose pid files come and go in the
// sidecar's pid-file directory, the way libvirt's do in /run/libvirt/qemu.
// A few steady guests stay for the whole run; each cycle starts more and
// ends them in each of the ways a VM ends: pid file removed, process killed
// with its pid file left behind, pid file rewritten with another PID. Files
// that are not pid files churn beside them.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace soak {

class TargetChurn {
public:
    // `guest_args`: what each dtvm runs with (backend, memory, rate).
    TargetChurn(std::string dtvm, std::string pid_dir, std::vector<std::string> guest_args);
    ~TargetChurn();  // kills every guest it started
    TargetChurn(const TargetChurn&) = delete;
    TargetChurn& operator=(const TargetChurn&) = delete;

    // Starts `n` guests that stay: targets steady-0, steady-1, ...
    void start_steady(int n);
    // Starts this cycle's guests (targets churn-0 .. churn-2), and writes
    // and removes a few hundred other files.
    void grow();
    // Ends this cycle's guests, one each way.
    void shrink();

    std::vector<std::string> steady_targets() const;
    int guests_started() const { return started_; }

private:
    pid_t start_guest();
    void write_pid_file(const std::string& target, pid_t pid);
    void remove_pid_file(const std::string& target);
    void kill_guest(pid_t pid);
    void churn_other_files();

    std::string dtvm_;
    std::string dir_;
    std::vector<std::string> guest_args_;
    std::vector<pid_t> steady_;
    std::vector<pid_t> cycle_;  // this cycle's guests, churn-0 .. churn-2
    int started_ = 0;
};

}  // namespace soak
