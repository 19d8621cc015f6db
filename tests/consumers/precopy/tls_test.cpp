// The precopy stream over TLS 1.3 on 127.0.0.1: good credentials migrate;
// a peer with the wrong CA, certificate, key or protocol is refused in the
// handshake, both sides say why, and the destination's memory stays
// untouched (all zero). Credentials are made at test time (support/tls_files).
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <thread>

#include "dtrack/precopy/receiver.hpp"
#include "dtrack/precopy/sender.hpp"
#include "dtrack/precopy/tcp.hpp"
#include "dtrack/precopy/tls.hpp"
#include "dtrack/rounds.hpp"
#include "dtrack/tracker.hpp"
#include "support/tls_files.hpp"

using namespace dtrack;
using namespace dtrack::precopy;
using namespace std::chrono_literals;
using dtrack_test::psk_file;
using dtrack_test::psk_key;
using dtrack_test::x509_dir;

namespace {

constexpr uint64_t page_size = 4096, pages = 256;

struct Memory {
    std::vector<uint8_t> bytes = std::vector<uint8_t>(pages * page_size, 0);
    std::vector<GuestMemory> regions{GuestMemory{0, bytes.data(), pages, page_size, 0}};
    void fill() {
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 7 + i / page_size);
    }
    bool all_zero() const {
        return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
    }
};

// The guest stands still: the sender's one round and switchover carry it all.
struct StillGuest : VmControl {
    void pause_vcpus() override {}
    void resume_vcpus() override {}
};

struct TlsRun {
    Outcome sent;
    std::optional<Result<ReceiveReport>> received;
    std::string received_error() const { return received && !received->ok() ? received->error().message() : ""; }
};

Result<TlsCredentials> x509(const std::string& dir, TlsRole role) { return TlsCredentials::load_x509(dir, role); }

// Migrates `src` into `dst` over TCP on 127.0.0.1, each side with its own TLS
// credentials (or none).
TlsRun migrate(Memory& src, Memory& dst, std::optional<TlsCredentials> sender_tls,
               std::optional<TlsCredentials> receiver_tls, const std::string& peer_name = "127.0.0.1") {
    Tracker tracker;
    tracker.add_region(Region{.name = "ram", .slot = 0, .base = 0, .page_size = page_size, .page_count = pages})
        .value();
    Rounds rounds(tracker);
    StillGuest guest;
    auto listener = TcpListener::listen({"127.0.0.1", 0});
    EXPECT_TRUE(listener.ok());
    TlsRun run;
    std::thread receiver([&] {
        auto fd = listener->accept(10s);
        if (!fd) return run.received.emplace(fd.error()), void();
        run.received.emplace(Receiver(dst.regions, {.io_timeout = 10s, .tls = receiver_tls}).run(fd->get()));
    });
    auto fd = tcp_connect({"127.0.0.1", listener->port()}, 10s);
    EXPECT_TRUE(fd.ok());
    Sender sender(tracker, rounds, src.regions, guest,
                  {.max_time = 30s, .io_timeout = 10s, .tls = sender_tls, .tls_peer_name = peer_name});
    run.sent = sender.run(fd->get());
    fd = UniqueFd();
    receiver.join();
    return run;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

struct PrecopyTls : testing::Test {
    Memory src, dst;
    void SetUp() override { src.fill(); }

    void expect_completed(const TlsRun& run) {
        EXPECT_TRUE(run.sent.completed()) << to_string(run.sent.status) << ": " << run.sent.message;
        ASSERT_TRUE(run.received && run.received->ok()) << run.received_error();
        EXPECT_TRUE(run.received->value().digest_match);
        EXPECT_EQ(src.bytes, dst.bytes);
    }
    // Refused in the handshake: both sides say so, and nothing was written.
    // (A plain sender may have written pages before it read the refusal; the
    // receiver dropped them unread.)
    void expect_refused_before_any_data(const TlsRun& run, const std::string& receiver_says,
                                        const std::string& sender_says, bool sender_speaks_tls = true) {
        EXPECT_FALSE(run.sent.completed());
        EXPECT_TRUE(contains(run.sent.message, sender_says)) << run.sent.message;
        ASSERT_TRUE(run.received && !run.received->ok()) << "the receiver accepted";
        EXPECT_TRUE(contains(run.received_error(), receiver_says)) << run.received_error();
        if (sender_speaks_tls) {
            EXPECT_EQ(run.sent.pages_sent, 0u);
        }
        EXPECT_TRUE(dst.all_zero()) << "guest memory was written";
    }
};

}  // namespace

TEST_F(PrecopyTls, GoodX509CredentialsMigrateAndTheDigestsMatch) {
    const std::string dir = x509_dir("good", "ca-a");
    expect_completed(migrate(src, dst, x509(dir, TlsRole::client).value(), x509(dir, TlsRole::server).value()));
}

TEST_F(PrecopyTls, AGoodPreSharedKeyMigrates) {
    const std::string keys = psk_file("good", "other:" + psk_key(2) + "\nqemu:" + psk_key(1) + "\n");
    expect_completed(migrate(src, dst, TlsCredentials::load_psk(keys, TlsRole::client).value(),
                             TlsCredentials::load_psk(keys, TlsRole::server).value()));
}

TEST_F(PrecopyTls, AClientWithAWrongCaIsRefusedBeforeAnyData) {
    // Each side trusts only its own CA: the client refuses the server's certificate.
    const TlsRun run = migrate(src, dst, x509(x509_dir("good", "ca-b"), TlsRole::client).value(),
                               x509(x509_dir("good", "ca-a"), TlsRole::server).value());
    expect_refused_before_any_data(
        run, "TLS handshake with the sender failed",
        "TLS handshake with the receiver failed: this side refused the receiver's certificate");
}

TEST_F(PrecopyTls, AClientCertificateTheCaDidNotSignIsRefusedBeforeAnyData) {
    // The client trusts the server, but its own certificate and key come from another CA.
    const std::string client = dtrack_test::x509_dir_with_foreign_client("foreign", "ca-a", "ca-b");
    const TlsRun run = migrate(src, dst, x509(client, TlsRole::client).value(),
                               x509(x509_dir("good", "ca-a"), TlsRole::server).value());
    expect_refused_before_any_data(run, "this side refused the sender's certificate",
                                   "TLS handshake with the receiver failed: the receiver refused this side");
}

TEST_F(PrecopyTls, AServerCertificateForAnotherAddressIsRefused) {
    const std::string dir = x509_dir("good", "ca-a");
    const TlsRun run = migrate(src, dst, x509(dir, TlsRole::client).value(), x509(dir, TlsRole::server).value(),
                               /*peer_name=*/"10.9.8.7");
    expect_refused_before_any_data(run, "TLS handshake with the sender failed", "IP address mismatch");
}

TEST_F(PrecopyTls, AWrongPreSharedKeyIsRefusedBeforeAnyData) {
    const TlsRun run =
        migrate(src, dst, TlsCredentials::load_psk(psk_file("client", "qemu:" + psk_key(3)), TlsRole::client).value(),
                TlsCredentials::load_psk(psk_file("server", "qemu:" + psk_key(4)), TlsRole::server).value());
    expect_refused_before_any_data(run, "TLS handshake with the sender failed",
                                   "TLS handshake with the receiver failed");
}

TEST_F(PrecopyTls, AnUnknownPskIdentityIsRefusedAndNamed) {
    const std::string keys = psk_file("identities", "qemu:" + psk_key(1) + "\nbob:" + psk_key(5) + "\n");
    const TlsRun run =
        migrate(src, dst, TlsCredentials::load_psk(keys, TlsRole::client, "bob").value(),
                TlsCredentials::load_psk(psk_file("only-qemu", "qemu:" + psk_key(1)), TlsRole::server).value());
    expect_refused_before_any_data(run, "the sender's PSK identity 'bob' is not in",
                                   "TLS handshake with the receiver failed");
}

TEST_F(PrecopyTls, APlainTcpSenderIsRefusedByATlsReceiver) {
    const std::string dir = x509_dir("good", "ca-a");
    const TlsRun run = migrate(src, dst, std::nullopt, x509(dir, TlsRole::server).value());
    expect_refused_before_any_data(run, "the sender did not start a TLS handshake",
                                   "the sender did not start a TLS handshake", /*sender_speaks_tls=*/false);
    EXPECT_EQ(run.sent.status, OutcomeStatus::rejected_by_receiver) << run.sent.message;
    EXPECT_TRUE(contains(run.sent.message, "--tls-creds")) << run.sent.message;
}

TEST_F(PrecopyTls, ATlsSenderIsRefusedByAPlainReceiver) {
    const std::string dir = x509_dir("good", "ca-a");
    const TlsRun run = migrate(src, dst, x509(dir, TlsRole::client).value(), std::nullopt);
    expect_refused_before_any_data(run, "the sender started a TLS handshake, and this receiver has no TLS credentials",
                                   "TLS handshake with the receiver failed: the receiver does not speak TLS");
    EXPECT_TRUE(contains(run.sent.message, "give the receiver TLS credentials too")) << run.sent.message;
}

TEST(PrecopyTlsCredentials, MissingOrBadFilesAreNamedWithTheFix) {
    const std::string empty = psk_file("empty-dir-marker", "");  // a file: its directory has no x509 layout
    const std::string dir = empty.substr(0, empty.rfind('/')) + "/no-creds";
    ASSERT_EQ(::system(("mkdir -p " + dir).c_str()), 0);
    auto none = TlsCredentials::load_x509(dir, TlsRole::server);
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.error().what, "ca-cert.pem not found in " + dir);
    EXPECT_TRUE(contains(none.error().fix, "server-cert.pem")) << none.error().fix;

    auto no_dir = TlsCredentials::load_x509(dir + "/nope", TlsRole::client);
    ASSERT_FALSE(no_dir.ok());
    EXPECT_TRUE(contains(no_dir.error().what, "not found")) << no_dir.error().what;

    auto no_file = TlsCredentials::load_psk(dir + "/keys.psk", TlsRole::server);
    ASSERT_FALSE(no_file.ok());
    EXPECT_TRUE(contains(no_file.error().message(), "keys.psk format")) << no_file.error().message();

    auto bad_line = TlsCredentials::load_psk(psk_file("bad", "qemu " + psk_key(1)), TlsRole::server);
    ASSERT_FALSE(bad_line.ok());
    EXPECT_TRUE(contains(bad_line.error().what, "line 1 is not IDENTITY:HEXKEY")) << bad_line.error().what;

    auto short_key = TlsCredentials::load_psk(psk_file("short", "qemu:00ff"), TlsRole::server);
    ASSERT_FALSE(short_key.ok());
    EXPECT_TRUE(contains(short_key.error().what, "not 16 to 64")) << short_key.error().what;

    auto no_identity = TlsCredentials::load_psk(psk_file("alice", "alice:" + psk_key(1)), TlsRole::client);
    ASSERT_FALSE(no_identity.ok());
    EXPECT_TRUE(contains(no_identity.error().what, "PSK identity 'qemu' not found")) << no_identity.error().what;
}

TEST(PrecopyTlsCredentials, AKeyThatDoesNotBelongToItsCertificateIsRefusedAtLoad) {
    const std::string dir = dtrack_test::x509_dir_with_foreign_client("mixed-key", "ca-a", "ca-b");
    // The client's certificate from one directory, its key from another.
    ASSERT_EQ(::system(("cp " + x509_dir("good", "ca-a") + "/client-key.pem " + dir + "/client-key.pem").c_str()), 0);
    auto creds = TlsCredentials::load_x509(dir, TlsRole::client);
    ASSERT_FALSE(creds.ok());
    EXPECT_TRUE(contains(creds.error().what, "client-key.pem in " + dir + " does not belong to client-cert.pem"))
        << creds.error().what;
}
