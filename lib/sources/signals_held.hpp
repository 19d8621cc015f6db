// Holds back every catchable signal of the calling thread for a scope; the
// ones that arrive meanwhile are delivered when it ends.
//
// Why: newer kernels cut KVM_RESET_DIRTY_RINGS short when the caller has a
// signal pending, and that cut can leave pages that were already taken off
// the ring writable (see KvmDirtyRings::reset). A VMM's harvesting
// threads get signals all the time (vCPU kicks, timers), so the reset runs
// with them held back. SIGKILL and SIGSTOP cannot be held back.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace dtrack {

class SignalsHeld {
public:
    SignalsHeld() {
        sigset_t all;
        sigfillset(&all);
        held_ = pthread_sigmask(SIG_BLOCK, &all, &previous_) == 0;
    }
    ~SignalsHeld() {
        if (held_) pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    }
    SignalsHeld(const SignalsHeld&) = delete;
    SignalsHeld& operator=(const SignalsHeld&) = delete;

private:
    sigset_t previous_;
    bool held_ = false;
};

}  // namespace dtrack
