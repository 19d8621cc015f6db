// Shared by the KVM tests: skip only where the running kernel lacks KVM.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#define DTRACK_REQUIRE_KVM()                                                              \
    do {                                                                                  \
        if (::access("/dev/kvm", R_OK | W_OK) != 0)                                       \
            GTEST_SKIP() << "no usable /dev/kvm on this machine: the KVM sources need it"; \
    } while (0)
