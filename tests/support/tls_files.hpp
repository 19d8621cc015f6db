// TLS credentials made at test time with the `openssl` command (Debian's
// openssl package, in the Makefile's deps): CAs, and certificates they sign,
// in QEMU's layout; PSK keys files in QEMU's keys.psk format. Everything
// lives in one temporary directory, removed at exit.
#pragma once

#include <string>

namespace dtrack_test {

// A directory with ca-cert.pem of CA `ca` and server-cert.pem/server-key.pem,
// client-cert.pem/client-key.pem signed by it (the server's names 127.0.0.1
// and localhost). The same (name, ca) gives the same directory.
std::string x509_dir(const std::string& name, const std::string& ca);

// A copy of x509_dir(name, ca) whose client certificate and key come from
// another CA, `client_ca` (ca-cert.pem stays that of `ca`).
std::string x509_dir_with_foreign_client(const std::string& name, const std::string& ca, const std::string& client_ca);

// A keys.psk file with these lines ("qemu:00ff...").
std::string psk_file(const std::string& name, const std::string& lines);

// A 32-byte key as hex, the same for the same seed.
std::string psk_key(int seed);

}  // namespace dtrack_test
