// --web-config-file read as node_exporter reads it (exporter-toolkit's
// web-configuration.md): what a file holds, where relative paths point, and
// the refusals, each naming the key and the fix.
#include "sidecar/http/web_config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/web_config_files.hpp"

using dtrack::cli::sidecar::ClientAuth;
using dtrack::cli::sidecar::load_web_config;
using dtrack::cli::sidecar::max_web_config_bytes;
using dtrack_test::ConfigDir;

namespace {

const char* const hash = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";  // from node_exporter's docs

TEST(WebConfig, TlsAndUsersAreReadWithPathsFromTheFilesDirectory) {
    const ConfigDir d;
    const auto c =
        load_web_config(d.write("tls_server_config:\n  cert_file: server.crt\n  key_file: /etc/keys/server.key\n"
                                "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.crt\n"
                                "  min_version: TLS13\nbasic_auth_users:\n  alice: " +
                                std::string(hash) + "\n  bob: '" + hash + "'\n"));
    ASSERT_TRUE(c.ok()) << c.error().message();
    ASSERT_TRUE(c->tls.has_value());
    EXPECT_EQ(c->tls->cert_file, d.dir + "/server.crt");
    EXPECT_EQ(c->tls->key_file, "/etc/keys/server.key");
    EXPECT_EQ(c->tls->client_ca_file, d.dir + "/ca.crt");
    EXPECT_EQ(c->tls->client_auth, ClientAuth::require_and_verify);
    EXPECT_EQ(c->tls->min_version, 0x0304);
    EXPECT_EQ(c->tls->max_version, 0x0304);
    EXPECT_EQ(c->basic_auth_users.size(), 2u);
    EXPECT_EQ(c->basic_auth_users.at("alice"), hash);
    EXPECT_TRUE(c->authenticates());
}

TEST(WebConfig, AnEmptyFileOrEmptySectionsMeanPlainHttpWithoutAuthentication) {
    const ConfigDir d;
    for (const char* text : {"", "# nothing\n", "tls_server_config:\nbasic_auth_users:\n", "tls_server_config: {}\n"}) {
        const auto c = load_web_config(d.write(text));
        ASSERT_TRUE(c.ok()) << text << ": " << c.error().message();
        EXPECT_FALSE(c->tls.has_value()) << text;
        EXPECT_FALSE(c->authenticates()) << text;
    }
    const auto tls_only = load_web_config(d.write("tls_server_config:\n  cert_file: a\n  key_file: b\n"));
    ASSERT_TRUE(tls_only.ok()) << tls_only.error().message();
    EXPECT_EQ(tls_only->tls->client_auth, ClientAuth::none);
    EXPECT_EQ(tls_only->tls->min_version, 0x0303);  // node_exporter's default, TLS 1.2
    EXPECT_FALSE(tls_only->authenticates()) << "TLS without client certificates authenticates nobody";
}

TEST(WebConfig, BadFilesAreRefusedNamingTheKeyAndTheFix) {
    const ConfigDir d;
    const std::string tls = "tls_server_config:\n  cert_file: a\n  key_file: b\n";
    const struct {
        std::string text, says;
    } cases[] = {
        {"tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n",
         "unknown key tls_server_config.certfile"},
        {"tls_server_config: {cert_file: a, key_file: b}\nbasic_auth: {}\n", "unknown key basic_auth"},
        {tls + "  client_allowed_sans: [a]\n",
         "tls_server_config.client_allowed_sans is node_exporter's, but dtrack sidecar does not implement it"},
        {"http_server_config:\n  http2: false\n", "http_server_config is node_exporter's"},
        {"rate_limit:\n  interval: 1s\n", "rate_limit is node_exporter's"},
        {"tls_server_config:\n  cert_file: a\n", "tls_server_config has no key_file"},
        {tls + "  client_auth_type: RequireAndVerify\n", "tls_server_config.client_auth_type is 'RequireAndVerify'"},
        {tls + "  client_auth_type: RequireAndVerifyClientCert\n", "there is no client_ca_file"},
        {tls + "  client_ca_file: ca\n", "has client_ca_file but client_auth_type NoClientCert"},
        {tls + "  min_version: TLS14\n", "tls_server_config.min_version is 'TLS14'"},
        {tls + "  min_version: TLS13\n  max_version: TLS12\n", "min_version is above max_version"},
        {tls + "  cert_file: c\n", "tls_server_config.cert_file is given twice"},
        {"basic_auth_users:\n  alice: secret\n", "basic_auth_users.alice: it is not a bcrypt hash"},
        {"basic_auth_users:\n  alice: $2y$16$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG\n",
         "its cost is 16"},
        {"basic_auth_users:\n  'al:ice': " + std::string(hash) + "\n", "holds no ':'"},
        {"basic_auth_users:\n  - alice\n", "basic_auth_users is not a mapping"},
        {"basic_auth_users:\n  alice: [a]\n", "basic_auth_users.alice is not a single value"},
        {"tls_server_config: [\n", "not YAML at line"},
        {"just words\n", "the file is not a mapping"},
        {std::string(70000, '['), "over the limit"},
        {std::string(5000, '[') + std::string(5000, ']'), "not YAML"},  // deep, in the limit
    };
    for (const auto& c : cases) {
        const auto r = load_web_config(d.write(c.text));
        ASSERT_FALSE(r.ok()) << c.text;
        EXPECT_NE(r.error().what.find(c.says), std::string::npos) << c.text.substr(0, 200) << "\n"
                                                                  << r.error().message();
        EXPECT_NE(r.error().what.find(d.dir + "/web.yml"), std::string::npos) << r.error().message();
        EXPECT_FALSE(r.error().fix.empty()) << r.error().message();
    }
}

TEST(WebConfig, AFileThatIsNotThereTooLargeOrAFifoIsRefusedWithoutBlocking) {
    const ConfigDir d;
    const auto missing = load_web_config(d.dir + "/none.yml");
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().what.find("none.yml"), std::string::npos) << missing.error().message();
    const auto large = load_web_config(d.write(std::string(max_web_config_bytes + 1, '#')));
    ASSERT_FALSE(large.ok());
    EXPECT_NE(large.error().what.find("over the limit of 65536"), std::string::npos) << large.error().message();
    ASSERT_EQ(::mkfifo((d.dir + "/fifo.yml").c_str(), 0600), 0);
    const auto fifo = load_web_config(d.dir + "/fifo.yml");  // a blocking open would hang here
    ASSERT_FALSE(fifo.ok());
    EXPECT_NE(fifo.error().what.find("is not a regular file"), std::string::npos) << fifo.error().message();
}

}  // namespace
