// A TCP port for a program under test that cannot report the one it bound
// (QEMU's -incoming, Prometheus' --web.listen-address).
#pragma once

namespace dtrack_test {

// A port nothing listens on now on 127.0.0.1 (the kernel's pick), for the
// program to bind a moment later. Throws where no socket can be had.
int free_loopback_port();

}  // namespace dtrack_test
