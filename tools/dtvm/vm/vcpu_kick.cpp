#include "dtvm/vm/vcpu_kick.hpp"

#include <signal.h>

#include <atomic>
#include <mutex>

namespace dtvm {
namespace {

void ignore_signal(int) {}

std::atomic_ref<__u8> immediate_exit(kvm_run* run) { return std::atomic_ref<__u8>(run->immediate_exit); }

}  // namespace

void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = ignore_signal;
        sigemptyset(&action.sa_mask);
        // SA_RESTART spares other syscalls on the vCPU thread (an on_ring_full
        // handler's) an EINTR. KVM_RUN still returns EINTR: the kernel does
        // not restart it, and were it restarted, immediate_exit ends it at once.
        action.sa_flags = SA_RESTART;
        sigaction(SIGUSR1, &action, nullptr);
    });
}

void allow_kicks_on_this_thread() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void kick(pthread_t thread, kvm_run* run) {
    // immediate_exit first: the thread clears it only after an EINTR and then
    // looks for the reason, so a request made before the kick is always seen.
    immediate_exit(run).store(1, std::memory_order_seq_cst);
    pthread_kill(thread, SIGUSR1);
}

void clear_kick(kvm_run* run) { immediate_exit(run).store(0, std::memory_order_seq_cst); }

}  // namespace dtvm
