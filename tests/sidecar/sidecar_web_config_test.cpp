// `dtrack sidecar --web-config-file` with node_exporter's file format: HTTPS
// with certificates made by the openssl command at run time, client
// certificates, basic auth with bcrypt hashes made at run time, scraped with
// curl; bad files refused with exit 2 before anything is served.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/background_process.hpp"
#include "support/raw_http_client.hpp"
#include "support/run_command.hpp"
#include "support/sidecar_process.hpp"
#include "support/tls_files.hpp"
#include "support/web_config_files.hpp"

using dtrack_test::BackgroundProcess;
using dtrack_test::bcrypt_hash;
using dtrack_test::binary;
using dtrack_test::ConfigDir;
using dtrack_test::get_status_within;
using dtrack_test::RawHttpClient;
using dtrack_test::SidecarProcess;
using namespace std::chrono_literals;

namespace {

// curl's HTTP status for `url` with `options` ("000": no HTTP answer, e.g. a
// refused handshake); the body goes to `body` when given.
std::string curl_status(const std::string& options, const std::string& url, std::string* body = nullptr) {
    const std::string out = "/tmp/dtrack-curl-body-" + std::to_string(::getpid());
    const auto r =
        dtrack_test::run("curl -s --max-time 10 -o " + out + " -w '%{http_code}' " + options + " '" + url + "'");
    if (body) *body = dtrack_test::run("cat " + out).output;
    std::remove(out.c_str());
    return r.output;
}

struct Sidecar {
    explicit Sidecar(const std::string& web_config)
        : sidecar("--pid " + std::to_string(target.pid()) + " --method sample --web-config-file " + web_config) {}
    std::string url(const std::string& scheme, const std::string& path = "/metrics") const {
        return scheme + "://127.0.0.1:" + std::to_string(sidecar.port()) + path;
    }
    BackgroundProcess target{"sleep 120"};
    SidecarProcess sidecar;
};

std::string tls_section(const std::string& x509) {
    return "tls_server_config:\n  cert_file: " + x509 + "/server-cert.pem\n  key_file: " + x509 + "/server-key.pem\n";
}

TEST(SidecarWebConfig, ServesHttpsWithTheConfiguredCertificateAndNothingInPlainHttp) {
    const std::string x509 = dtrack_test::x509_dir("sidecar", "ca1");
    const ConfigDir d;
    Sidecar s(d.write(tls_section(x509)));
    ASSERT_GT(s.sidecar.port(), 0) << s.sidecar.log();
    EXPECT_NE(s.sidecar.log().find("serving https://127.0.0.1:"), std::string::npos) << s.sidecar.log();
    std::string body;
    EXPECT_EQ(curl_status("--cacert " + x509 + "/ca-cert.pem", s.url("https"), &body), "200");
    EXPECT_NE(body.find("dtrack_build_info"), std::string::npos) << body;
    EXPECT_EQ(curl_status("", s.url("https")), "000") << "a certificate no CA of the client's signed";
    EXPECT_EQ(get_status_within(s.sidecar.port(), "/metrics", 2s), 0) << "plain HTTP on the TLS port";
    EXPECT_EQ(curl_status("--cacert " + x509 + "/ca-cert.pem", s.url("https"), &body), "200") << "still serving";

    Sidecar tls13(d.write(tls_section(x509) + "  min_version: TLS13\n", "tls13.yml"));
    ASSERT_GT(tls13.sidecar.port(), 0) << tls13.sidecar.log();
    EXPECT_EQ(curl_status("--cacert " + x509 + "/ca-cert.pem --tls-max 1.2", tls13.url("https")), "000");
    EXPECT_EQ(curl_status("--cacert " + x509 + "/ca-cert.pem", tls13.url("https")), "200");
}

TEST(SidecarWebConfig, RequireAndVerifyClientCertAdmitsOnlyCertificatesOfTheClientCa) {
    const std::string x509 = dtrack_test::x509_dir("sidecar", "ca1");
    const std::string foreign = dtrack_test::x509_dir_with_foreign_client("sidecar", "ca1", "ca2");
    const ConfigDir d;
    Sidecar s(d.write(tls_section(x509) + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: " + x509 +
                      "/ca-cert.pem\n"));
    ASSERT_GT(s.sidecar.port(), 0) << s.sidecar.log();
    const std::string trust = "--cacert " + x509 + "/ca-cert.pem";
    EXPECT_EQ(
        curl_status(trust + " --cert " + x509 + "/client-cert.pem --key " + x509 + "/client-key.pem", s.url("https")),
        "200");
    EXPECT_EQ(curl_status(trust, s.url("https")), "000") << "no client certificate";
    EXPECT_EQ(curl_status(trust + " --cert " + foreign + "/client-cert.pem --key " + foreign + "/client-key.pem",
                          s.url("https")),
              "000")
        << "a client certificate of another CA";
}

TEST(SidecarWebConfig, BasicAuthUsersGiveTheirPasswordAndOthersGet401WithTheRealm) {
    const std::string x509 = dtrack_test::x509_dir("sidecar", "ca1");
    const ConfigDir d;
    const std::string alice = bcrypt_hash("open sesame", 10), bob = bcrypt_hash("hunter2", 4, "$2b$");
    ASSERT_FALSE(alice.empty());
    Sidecar s(d.write(tls_section(x509) + "basic_auth_users:\n  alice: " + alice + "\n  bob: " + bob + "\n"));
    ASSERT_GT(s.sidecar.port(), 0) << s.sidecar.log();
    const std::string trust = "--cacert " + x509 + "/ca-cert.pem ";
    std::string body;
    EXPECT_EQ(curl_status(trust + "-u 'alice:open sesame'", s.url("https"), &body), "200");
    EXPECT_NE(body.find("dtrack_build_info"), std::string::npos) << body;
    EXPECT_EQ(curl_status(trust + "-u 'alice:open sesame'", s.url("https")), "200") << "from the cache";
    EXPECT_EQ(curl_status(trust + "-u bob:hunter2", s.url("https", "/")), "200");
    EXPECT_EQ(curl_status(trust + "-u alice:hunter2", s.url("https")), "401");
    EXPECT_EQ(curl_status(trust + "-u 'mallory:open sesame'", s.url("https")), "401");
    EXPECT_EQ(curl_status(trust, s.url("https", "/")), "401");
    const auto headers =
        dtrack_test::run("curl -s -o /dev/null -D - --max-time 10 " + trust + "'" + s.url("https") + "'");
    EXPECT_NE(headers.output.find("WWW-Authenticate: Basic realm=\"dtrack\""), std::string::npos) << headers.output;
}

// 10 clients with wrong passwords, each new (bcrypt at cost 12, ~0.2 s each:
// 2 s of work) do not hold up a scraper whose password was checked before:
// the checks run beside the server's loop, not in it.
TEST(SidecarWebConfig, AFloodOfWrongPasswordsDoesNotDelayAScraperWhosePasswordWasChecked) {
    const ConfigDir d;
    Sidecar s(d.write("basic_auth_users:\n  alice: " + bcrypt_hash("right", 12) + "\n"));
    ASSERT_GT(s.sidecar.port(), 0) << s.sidecar.log();
    const std::string scrape = "GET /metrics HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWxpY2U6cmlnaHQ=\r\n\r\n";
    RawHttpClient first(s.sidecar.port());
    ASSERT_TRUE(first.send(scrape));
    ASSERT_TRUE(first.wait_for_response(5s));
    ASSERT_EQ(first.status(), 200) << first.received();

    std::vector<std::unique_ptr<RawHttpClient>> flood;
    for (int i = 0; i < 10; ++i) {
        flood.push_back(std::make_unique<RawHttpClient>(s.sidecar.port()));
        const std::string wrong = "alice:wrong" + std::to_string(i);
        const std::string b64 = dtrack_test::run("printf %s '" + wrong + "' | base64 -w0").output;
        ASSERT_TRUE(flood.back()->send("GET /metrics HTTP/1.1\r\nHost: h\r\nAuthorization: Basic " + b64 + "\r\n\r\n"));
    }
    RawHttpClient again(s.sidecar.port());
    ASSERT_TRUE(again.send(scrape));
    EXPECT_TRUE(again.wait_for_response(1s)) << "waited for the wrong passwords' checks";
    EXPECT_EQ(again.status(), 200);
    // Each is refused (401), or turned away (503), or closed at its deadline
    // if a slow machine has not checked its password by then.
    for (const auto& c : flood)
        if (c->wait_for_response(10s)) EXPECT_TRUE(c->status() == 401 || c->status() == 503) << c->received();
        else EXPECT_TRUE(c->closed_by_server()) << "neither answered nor closed in 10 s";
}

TEST(SidecarWebConfig, ABadWebConfigFileExitsWith2NamingTheCauseAndServesNothing) {
    const std::string x509 = dtrack_test::x509_dir("sidecar", "ca1");
    const std::string other = dtrack_test::x509_dir("other", "ca2");
    BackgroundProcess target("sleep 60");
    const ConfigDir d;
    ASSERT_EQ(::mkfifo((d.dir + "/fifo.yml").c_str(), 0600), 0);
    const std::string tls = "tls_server_config:\n  cert_file: " + x509 + "/server-cert.pem\n";
    const struct {
        std::string file, says;
    } cases[] = {
        {d.dir + "/missing.yml", "opening --web-config-file " + d.dir + "/missing.yml failed"},
        {d.dir + "/fifo.yml", "is not a regular file"},
        {d.write(std::string(70000, '#'), "large.yml"), "over the limit of 65536"},
        {d.write("tls_server_config: {cert_file: a, key_file: b, ciphers: [x]}\n", "unknown.yml"),
         "unknown key tls_server_config.ciphers"},
        {d.write("basic_auth_users:\n  alice: plain-password\n", "hash.yml"),
         "basic_auth_users.alice: it is not a bcrypt hash"},
        {d.write("tls_server_config:\n  cert_file: none.pem\n  key_file: none.key\n", "nocert.yml"),
         "opening tls_server_config.cert_file " + d.dir + "/none.pem failed"},
        {d.write(tls + "  key_file: " + other + "/server-key.pem\n", "otherkey.yml"), "is not the key of cert_file"},
        {d.write("tls_server_config:\n  cert_file: web.yml\n  key_file: web.yml\n", "notpem.yml"),
         "holds no certificate"},
    };
    d.write("not a certificate\n");  // web.yml, the notpem case's certificate
    for (const auto& c : cases) {
        const auto r =
            dtrack_test::run("timeout 10 " + binary("dtrack") + " sidecar --pid " + std::to_string(target.pid()) +
                             " --method sample --listen 127.0.0.1:0 --web-config-file " + c.file + " 2>&1");
        EXPECT_EQ(r.exit_code, 2) << c.file << ": " << r.output;
        EXPECT_NE(r.output.find(c.says), std::string::npos) << c.file << " printed: " << r.output;
        EXPECT_NE(r.output.find("fix: "), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("serving"), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("attached target"), std::string::npos) << "attached before refusing: " << r.output;
    }
}

TEST(SidecarWebConfig, BeyondLoopbackItWarnsOnlyWhenNobodyIsAskedWhoTheyAre) {
    BackgroundProcess target("sleep 60");
    const ConfigDir d;
    const std::string with_users = d.write("basic_auth_users:\n  alice: " + bcrypt_hash("pw") + "\n");
    const std::string empty = d.write("", "empty.yml");
    // What it logs until it serves (and the warning right after), then SIGTERM; 30 s at most.
    const auto started = [&](const std::string& extra) {
        return dtrack_test::run("f=$(mktemp); " + binary("dtrack") + " sidecar --pid " + std::to_string(target.pid()) +
                                " --method sample --listen 0.0.0.0:0" + extra +
                                " >$f 2>&1 & p=$!; for i in $(seq 300); do grep -q serving $f && break; sleep 0.1; "
                                "done; sleep 0.2; kill $p; wait $p; cat $f; rm -f $f");
    };
    const std::string warning = "is reachable from other hosts, and /metrics has no authentication";
    const auto plain = started("");
    EXPECT_NE(plain.output.find(warning), std::string::npos) << plain.output;
    const auto nothing = started(" --web-config-file " + empty);
    EXPECT_NE(nothing.output.find(warning), std::string::npos) << nothing.output;
    const auto users = started(" --web-config-file " + with_users);
    EXPECT_NE(users.output.find("serving http://0.0.0.0:"), std::string::npos) << users.output;
    EXPECT_EQ(users.output.find(warning), std::string::npos) << users.output;
}

}  // namespace
