// HTTP Basic authentication against bcrypt hashes, as node_exporter's web
// config has it (basic_auth_users). Checking a password costs bcrypt's work
// (~60 ms at cost 10), so the decision is split: judge() answers at once from
// a cache of checked (user, password) pairs, and a password not seen yet is
// handed back as a PasswordCheck to run elsewhere (password_check_thread),
// whose outcome remember() keeps.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace dtrack::cli::sidecar {

struct Credentials {
    std::string user, password;
};

// "Basic dXNlcjpwYXNz" (RFC 7617); nullopt when it is not that.
std::optional<Credentials> parse_basic_authorization(std::string_view header);

// Why `hash` is not a bcrypt hash the sidecar takes ($2a$, $2b$ or $2y$,
// cost 4 to 14, 60 characters); empty when it is one.
std::string bcrypt_hash_problem(std::string_view hash);

// Whether `password` hashes to `hash`, compared in constant time. Slow; safe
// on any thread.
bool bcrypt_matches(const std::string& password, const std::string& hash);

class BasicAuth {
public:
    // Name -> bcrypt hash, each checked with bcrypt_hash_problem; not empty.
    explicit BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {}

    struct PasswordCheck {
        std::string key;  // the cache's key for the (user, password) pair
        std::string password;
        std::string hash;  // the user's; for a name nobody has, another user's, so the work is the same
        bool known_user = false;
        // bcrypt: slow.
        bool passes() const { return bcrypt_matches(password, hash) && known_user; }
    };
    struct Verdict {
        enum class Kind { allowed, denied, check } kind = Kind::denied;
        PasswordCheck check;  // Kind::check: run it, then remember()
    };

    // From a request's Authorization header, at once.
    Verdict judge(std::string_view authorization) const;
    void remember(const std::string& key, bool allowed);

    // Each set is emptied when it holds this many: pairs that failed cannot
    // grow memory, and cannot push out the ones that passed.
    static constexpr size_t max_remembered = 1024;

private:
    std::map<std::string, std::string> users_;
    // SHA-256 of user and password, so no password stays in memory.
    std::unordered_set<std::string> allowed_, denied_;
};

}  // namespace dtrack::cli::sidecar
