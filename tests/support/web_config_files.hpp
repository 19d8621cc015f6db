// What the web-config tests write: a temporary directory for config files
// (removed at the end), and bcrypt hashes made at test time with libxcrypt,
// as `htpasswd -nBC COST` makes them.
#pragma once

#include <crypt.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace dtrack_test {

struct ConfigDir {
    ConfigDir() {
        char path[] = "/tmp/dtrack-webconfig-XXXXXX";
        dir = ::mkdtemp(path);
    }
    ~ConfigDir() { std::filesystem::remove_all(dir); }
    ConfigDir(const ConfigDir&) = delete;
    ConfigDir& operator=(const ConfigDir&) = delete;

    // Writes `text` to DIR/name; its path.
    std::string write(const std::string& text, const std::string& name = "web.yml") const {
        std::ofstream(dir + "/" + name) << text;
        return dir + "/" + name;
    }
    std::string dir;
};

// A bcrypt hash of `password` with a random salt; empty if libxcrypt cannot.
inline std::string bcrypt_hash(const std::string& password, int cost = 4, const char* prefix = "$2y$") {
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!::crypt_gensalt_rn(prefix, cost, nullptr, 0, salt, sizeof salt)) return "";
    auto data = std::make_unique<crypt_data>();
    const char* hash = ::crypt_r(password.c_str(), salt, data.get());
    return hash && hash[0] == '$' ? hash : "";
}

}  // namespace dtrack_test
