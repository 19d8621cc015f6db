#include "support/tls_files.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "support/run_command.hpp"

namespace dtrack_test {

namespace {

// The temporary directory for this test process. A plain array: it must
// still be valid in the atexit handler, after static strings are gone.
char root_path[] = "/tmp/dtrack-tls-XXXXXX";

void remove_root() { run(std::string("rm -rf ") + root_path); }

std::string root() {
    static const bool made = [] {
        const bool ok = ::mkdtemp(root_path) != nullptr;
        if (ok) std::atexit(remove_root);
        return ok;
    }();
    EXPECT_TRUE(made) << "mkdtemp failed";
    return root_path;
}

void sh(const std::string& script) {
    const CommandResult r = run("set -e; cd " + root() + "; (" + script + ") 2>&1");
    ASSERT_EQ(r.exit_code, 0) << "making test credentials failed:\n" << script << "\n" << r.output;
}

const std::string new_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";

// CA `ca` (ca-NAME/ca-cert.pem, ca-key.pem), made once.
std::string ca_dir(const std::string& ca) {
    static std::set<std::string> made;
    const std::string dir = root() + "/ca-" + ca;
    if (made.insert(ca).second)
        sh("mkdir -p " + dir + " && openssl req -x509 " + new_key + " -keyout " + dir + "/ca-key.pem -out " + dir +
           "/ca-cert.pem -subj /CN=" + ca + " -days 2");
    return dir;
}

// SIDE-cert.pem and SIDE-key.pem in `dir`, signed by CA `ca`.
void sign(const std::string& dir, const std::string& side, const std::string& ca) {
    const std::string c = ca_dir(ca);
    const std::string ext = side == "server" ? "subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth"
                                             : "extendedKeyUsage=clientAuth";
    sh("cd " + dir + " && printf '" + ext + "\\n' > " + side + ".ext && openssl req " + new_key + " -keyout " + side +
       "-key.pem -out " + side + ".csr -subj /CN=dtrack-" + side + " && openssl x509 -req -in " + side + ".csr -CA " +
       c + "/ca-cert.pem -CAkey " + c + "/ca-key.pem -CAcreateserial -days 2 -extfile " + side + ".ext -out " + side +
       "-cert.pem && rm " + side + ".csr " + side + ".ext");
}

}  // namespace

std::string x509_dir(const std::string& name, const std::string& ca) {
    static std::set<std::string> made;
    const std::string dir = root() + "/" + name + "-" + ca;
    if (made.insert(dir).second) {
        sh("mkdir -p " + dir + " && cp " + ca_dir(ca) + "/ca-cert.pem " + dir);
        sign(dir, "server", ca);
        sign(dir, "client", ca);
    }
    return dir;
}

std::string x509_dir_with_foreign_client(const std::string& name, const std::string& ca, const std::string& client_ca) {
    const std::string dir = root() + "/" + name + "-" + ca + "-client-" + client_ca;
    sh("rm -rf " + dir + " && cp -r " + x509_dir(name, ca) + " " + dir);
    sign(dir, "client", client_ca);
    return dir;
}

std::string psk_file(const std::string& name, const std::string& lines) {
    const std::string path = root() + "/" + name + ".psk";
    std::ofstream(path) << lines;
    return path;
}

std::string psk_key(int seed) {
    std::string hex;
    char buf[3];
    for (int i = 0; i < 32; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", (seed * 131 + i * 29 + 7) & 0xff);
        hex += buf;
    }
    return hex;
}

}  // namespace dtrack_test
