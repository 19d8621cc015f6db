#include "basic_auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

namespace dtrack::cli::sidecar {

namespace {

constexpr std::string_view base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Strict RFC 4648 base64, padded; nullopt otherwise.
std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < in.size(); i += 4) {
        uint32_t quad = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; ++j) {
            const char c = in[i + j];
            const size_t v = base64_alphabet.find(c);
            const bool padding = c == '=' && i + 4 == in.size() && j >= 2 && (j == 3 || in[i + 3] == '=');
            if (v == std::string_view::npos && !padding) return std::nullopt;
            pad += padding;
            quad = quad << 6 | (padding ? 0 : uint32_t(v));
        }
        out += char(quad >> 16);
        if (pad < 2) out += char(quad >> 8 & 0xff);
        if (pad < 1) out += char(quad & 0xff);
    }
    return out;
}

std::string sha256(const std::string& user, const std::string& password) {
    const std::string both = user + '\0' + password;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest(both.data(), both.size(), digest, &size, EVP_sha256(), nullptr);
    return std::string(reinterpret_cast<char*>(digest), size);
}

}  // namespace

std::optional<Credentials> parse_basic_authorization(std::string_view header) {
    if (header.size() < 6 || ::strncasecmp(header.data(), "basic ", 6) != 0) return std::nullopt;
    header.remove_prefix(6);
    while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
    const auto decoded = base64_decode(header);
    if (!decoded) return std::nullopt;
    const size_t colon = decoded->find(':');
    if (colon == std::string::npos) return std::nullopt;
    return Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)};
}

std::string bcrypt_hash_problem(std::string_view hash) {
    const bool prefix = hash.size() > 7 && hash.substr(0, 2) == "$2" &&
                        std::string_view("aby").find(hash[2]) != std::string_view::npos && hash[3] == '$' &&
                        std::isdigit((unsigned char)hash[4]) && std::isdigit((unsigned char)hash[5]) && hash[6] == '$';
    if (!prefix) return "it is not a bcrypt hash ($2y$10$..., $2b$ or $2a$)";
    const std::string_view salt_and_hash = hash.substr(7);
    if (salt_and_hash.size() != 53 ||
        salt_and_hash.find_first_not_of("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
            std::string_view::npos)
        return "it is not a bcrypt hash (60 characters, $2y$NN$ then 53 of [./A-Za-z0-9])";
    const int cost = (hash[4] - '0') * 10 + (hash[5] - '0');
    // Each step doubles the work: cost 10 takes ~60 ms here, 14 ~1 s, and 16
    // could outlast the 5 s a request may take.
    if (cost < 4 || cost > 14)
        return "its cost is " + std::to_string(cost) +
               ", and the sidecar takes 4 to 14 (each step doubles the time a check takes)";
    return {};
}

bool bcrypt_matches(const std::string& password, const std::string& hash) {
    // crypt_data is 32 KiB: on the heap, one per call, so any thread may call.
    auto data = std::make_unique<crypt_data>();
    const char* out = ::crypt_r(password.c_str(), hash.c_str(), data.get());
    return out && std::strlen(out) == hash.size() && CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
}

BasicAuth::Verdict BasicAuth::judge(std::string_view authorization) const {
    const auto credentials = parse_basic_authorization(authorization);
    if (!credentials) return {};
    const std::string key = sha256(credentials->user, credentials->password);
    if (allowed_.count(key)) return {.kind = Verdict::Kind::allowed};
    if (denied_.count(key)) return {};
    const auto user = users_.find(credentials->user);
    const bool known = user != users_.end();
    return {.kind = Verdict::Kind::check,
            .check = {.key = key,
                      .password = credentials->password,
                      .hash = known ? user->second : users_.begin()->second,
                      .known_user = known}};
}

void BasicAuth::remember(const std::string& key, bool allowed) {
    auto& set = allowed ? allowed_ : denied_;
    if (set.size() >= max_remembered) set.clear();
    set.insert(key);
}

}  // namespace dtrack::cli::sidecar
