// Basic authentication against bcrypt hashes (hashes made here with
// libxcrypt's crypt_gensalt_rn and crypt_r, as htpasswd -B makes them): the
// header's parsing, the hash's checks, and the cache that spares bcrypt's
// cost on every scrape without letting failures push out what passed.
#include "sidecar/http/basic_auth.hpp"

#include <gtest/gtest.h>

#include "support/web_config_files.hpp"

using dtrack::cli::sidecar::BasicAuth;
using dtrack::cli::sidecar::bcrypt_hash_problem;
using dtrack::cli::sidecar::bcrypt_matches;
using dtrack::cli::sidecar::parse_basic_authorization;
using Kind = BasicAuth::Verdict::Kind;

namespace {

std::string bcrypt(const std::string& password, const char* prefix = "$2y$") {
    return dtrack_test::bcrypt_hash(password, 4, prefix);
}

TEST(BasicAuth, TheAuthorizationHeaderIsReadAsRfc7617Says) {
    const auto c = parse_basic_authorization("Basic YWxpY2U6b3Blbjpzw6lzYW1l");  // alice:open:sésame
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->user, "alice");
    EXPECT_EQ(c->password, "open:s\xc3\xa9same");
    EXPECT_TRUE(parse_basic_authorization("basic Ym9iOg==").has_value());  // bob, empty password
    for (const char* bad : {"", "Basic", "Bearer YWxpY2U6eA==", "Basic YWxpY2U", "Basic YWxp*2U6eA==", "Basic Ym9i",
                            "Basic =Ym9i", "Basic Y=9iOg=="})
        EXPECT_FALSE(parse_basic_authorization(bad).has_value()) << bad;
}

TEST(BasicAuth, OnlyBcryptHashesOfAModestCostAreTaken) {
    for (const char* prefix : {"$2y$", "$2b$", "$2a$"}) {
        const std::string hash = bcrypt("pw", prefix);
        ASSERT_FALSE(hash.empty()) << prefix;
        EXPECT_EQ(bcrypt_hash_problem(hash), "") << hash;
        EXPECT_TRUE(bcrypt_matches("pw", hash)) << hash;
        EXPECT_FALSE(bcrypt_matches("pW", hash)) << hash;
    }
    const std::string good = bcrypt("pw");
    EXPECT_NE(bcrypt_hash_problem("pw"), "");
    EXPECT_NE(bcrypt_hash_problem("$1$abcdefgh$012345678901234567890"), "");  // MD5-crypt
    EXPECT_NE(bcrypt_hash_problem(good.substr(0, 59)), "");
    EXPECT_NE(bcrypt_hash_problem(good.substr(0, 59) + "!"), "");
    std::string costly = good;
    costly.replace(4, 2, "15");
    EXPECT_NE(bcrypt_hash_problem(costly).find("its cost is 15"), std::string::npos) << bcrypt_hash_problem(costly);
    costly.replace(4, 2, "03");
    EXPECT_NE(bcrypt_hash_problem(costly), "");
}

TEST(BasicAuth, APasswordIsCheckedOnceThenJudgedFromTheCache) {
    BasicAuth auth({{"alice", bcrypt("secret")}});
    const std::string header = "Basic YWxpY2U6c2VjcmV0";  // alice:secret
    BasicAuth::Verdict first = auth.judge(header);
    ASSERT_EQ(first.kind, Kind::check);
    EXPECT_TRUE(first.check.passes());
    auth.remember(first.check.key, true);
    EXPECT_EQ(auth.judge(header).kind, Kind::allowed);

    const std::string wrong = "Basic YWxpY2U6U2VjcmV0";  // alice:Secret
    BasicAuth::Verdict failed = auth.judge(wrong);
    ASSERT_EQ(failed.kind, Kind::check);
    EXPECT_FALSE(failed.check.passes());
    auth.remember(failed.check.key, false);
    EXPECT_EQ(auth.judge(wrong).kind, Kind::denied);
    EXPECT_EQ(auth.judge("").kind, Kind::denied);  // no credentials: no check
}

TEST(BasicAuth, AnUnknownUserCostsABcryptCheckAndNeverPassesEvenWithAnotherUsersPassword) {
    BasicAuth auth({{"alice", bcrypt("secret")}});
    const BasicAuth::Verdict v = auth.judge("Basic bWFsbG9yeTpzZWNyZXQ=");  // mallory:secret
    ASSERT_EQ(v.kind, Kind::check);
    EXPECT_FALSE(v.check.known_user);
    EXPECT_TRUE(bcrypt_matches(v.check.password, v.check.hash)) << "alice's hash, so the work is the same";
    EXPECT_FALSE(v.check.passes());
}

TEST(BasicAuth, FailuresFillingTheCacheDoNotPushOutAPasswordThatPassed) {
    BasicAuth auth({{"alice", bcrypt("secret")}});
    const std::string header = "Basic YWxpY2U6c2VjcmV0";
    auth.remember(auth.judge(header).check.key, true);
    for (size_t i = 0; i < 3 * BasicAuth::max_remembered; ++i) auth.remember("failed-" + std::to_string(i), false);
    EXPECT_EQ(auth.judge(header).kind, Kind::allowed);
}

}  // namespace
