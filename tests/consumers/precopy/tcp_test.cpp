// The TCP listener a receiver waits on: one peer per migration, and beyond
// loopback only when the caller has TLS or accepted the risk.
#include <gtest/gtest.h>

#include <cerrno>

#include "dtrack/precopy/tcp.hpp"

using namespace dtrack::precopy;
using namespace std::chrono_literals;

TEST(TcpListener, ASecondConnectionIsRefusedAtOnce) {
    auto listener = TcpListener::listen({"127.0.0.1", 0});
    ASSERT_TRUE(listener.ok()) << listener.error().message();
    const TcpAddress address{"127.0.0.1", listener->port()};
    auto first = tcp_connect(address, 5s);
    ASSERT_TRUE(first.ok()) << first.error().message();
    auto accepted = listener->accept(5s);
    ASSERT_TRUE(accepted.ok()) << accepted.error().message();
    auto second = tcp_connect(address, 5s);
    ASSERT_FALSE(second.ok()) << "a second peer connected while the first migrates";
    EXPECT_EQ(second.error().errno_value, ECONNREFUSED) << second.error().message();
    auto again = listener->accept(100ms);
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(again.error().what.find("already accepted") != std::string::npos) << again.error().what;
}

TEST(TcpListener, ListensBeyondLoopbackOnlyWhenAllowed) {
    EXPECT_TRUE(is_loopback({"127.0.0.1", 0}));
    EXPECT_TRUE(is_loopback({"127.1.2.3", 0}));
    EXPECT_TRUE(is_loopback({"localhost", 0}));
    EXPECT_FALSE(is_loopback({"0.0.0.0", 0}));
    EXPECT_FALSE(is_loopback({"10.0.0.1", 0}));
    auto refused = TcpListener::listen({"0.0.0.0", 0});
    ASSERT_FALSE(refused.ok()) << "listened on every address without TLS";
    EXPECT_EQ(
        refused.error().what,
        "refusing to listen on 0.0.0.0 without TLS: any host that connects first could write this guest's memory");
    EXPECT_TRUE(refused.error().fix.find("--tls-creds") != std::string::npos) << refused.error().fix;
    auto allowed = TcpListener::listen({"0.0.0.0", 0}, /*non_loopback_allowed=*/true);
    EXPECT_TRUE(allowed.ok()) << allowed.error().message();
}
