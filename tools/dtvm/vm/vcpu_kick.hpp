// Getting a vCPU thread out of KVM_RUN when the guest does not exit by itself.
//
// Two halves, both needed: kvm_run->immediate_exit = 1 makes a KVM_RUN that
// is about to start return EINTR at once; a signal makes one that is running
// return EINTR (35-95 us later on this host, measured by the dtvm spike).
// The signal is SIGUSR1 with a handler that does nothing: it only has to
// exist so the signal does not kill the process. dtvm thereby owns SIGUSR1.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

namespace dtvm {

// Installs the no-op SIGUSR1 handler (process-wide; idempotent).
void install_kick_handler();
// On a vCPU thread: make sure SIGUSR1 is not blocked here.
void allow_kicks_on_this_thread();
// From any thread: set immediate_exit, then signal the vCPU thread.
void kick(pthread_t thread, kvm_run* run);
// On the vCPU thread after KVM_RUN returned EINTR, before looking at why.
void clear_kick(kvm_run* run);

}  // namespace dtvm
