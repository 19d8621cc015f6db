#include "web_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>
#include <vector>

#include "basic_auth.hpp"
#include "small_file.hpp"

namespace dtrack::cli::sidecar {

namespace {

const std::string hash_fix = "hash the password with bcrypt, cost 10: htpasswd -nBC 10 \"\" | tr -d ':\\n'";

struct Keys {
    std::vector<std::string> known;        // read here
    std::vector<std::string> unsupported;  // node_exporter's, not implemented here
};
const Keys top_keys{{"tls_server_config", "basic_auth_users"}, {"http_server_config", "rate_limit"}};
const Keys tls_keys{{"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"},
                    {"cert", "key", "client_ca", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites",
                     "client_allowed_sans"}};

const std::map<std::string, ClientAuth> client_auth_types{
    {"NoClientCert", ClientAuth::none},
    {"RequestClientCert", ClientAuth::request},
    {"RequireAnyClientCert", ClientAuth::require_any},
    {"RequireClientCert", ClientAuth::require_any},  // node_exporter's older name
    {"VerifyClientCertIfGiven", ClientAuth::verify_if_given},
    {"RequireAndVerifyClientCert", ClientAuth::require_and_verify},
};
const std::map<std::string, uint16_t> tls_versions{
    {"TLS10", 0x0301}, {"TLS11", 0x0302}, {"TLS12", 0x0303}, {"TLS13", 0x0304}};

std::string joined(const std::vector<std::string>& names) {
    std::string out;
    for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

template <typename T>
std::vector<std::string> names_of(const std::map<std::string, T>& m) {
    std::vector<std::string> out;
    for (const auto& [name, value] : m) out.push_back(name);
    return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// One file's reading: its messages all start with the file's name.
class Reader {
public:
    explicit Reader(std::string path) : path_(std::move(path)) {
        const size_t slash = path_.rfind('/');
        dir_ = slash == std::string::npos ? "." : path_.substr(0, slash == 0 ? 1 : slash);
    }

    Error bad(const std::string& what, const std::string& fix) const {
        return Error{EINVAL, "--web-config-file " + path_ + ": " + what, fix};
    }

    // A mapping whose keys are all known ones, each once.
    Status check_keys(const YAML::Node& map, const std::string& where, const Keys& keys) const {
        if (!map.IsMap()) return bad(where + " is not a mapping", "write it as KEY: VALUE lines");
        std::set<std::string> seen;
        for (const auto& entry : map) {
            if (!entry.first.IsScalar()) return bad(where + " has a key that is not a name", "use plain names");
            const std::string key = entry.first.Scalar();
            const std::string at = where == "the file" ? key : where + "." + key;
            if (!seen.insert(key).second) return bad(at + " is given twice", "give it once");
            if (contains(keys.known, key)) continue;
            if (contains(keys.unsupported, key))
                return bad(at + " is node_exporter's, but dtrack sidecar does not implement it",
                           "remove it (" + where + " takes " + joined(keys.known) + ")");
            return bad("unknown key " + at, "the keys of " + where + " are " + joined(keys.known));
        }
        return Ok{};
    }

    Result<std::string> scalar(const YAML::Node& node, const std::string& at) const {
        if (!node.IsScalar()) return bad(at + " is not a single value", "give it as KEY: VALUE");
        return node.Scalar();
    }

    std::string path_in_dir(const std::string& p) const { return p.empty() || p[0] == '/' ? p : dir_ + "/" + p; }

    template <typename T>
    Result<T> one_of(const YAML::Node& node, const std::string& at, const std::map<std::string, T>& choices) const {
        auto text = scalar(node, at);
        if (!text) return text.error();
        const auto it = choices.find(*text);
        if (it == choices.end()) return bad(at + " is '" + *text + "'", "give one of " + joined(names_of(choices)));
        return it->second;
    }

private:
    std::string path_, dir_;
};

Status read_tls_field(const Reader& r, const std::string& key, const YAML::Node& value, TlsServerSettings& tls) {
    const std::string at = "tls_server_config." + key;
    if (key == "client_auth_type") {
        auto a = r.one_of(value, at, client_auth_types);
        if (!a) return a.error();
        tls.client_auth = *a;
        return Ok{};
    }
    if (key == "min_version" || key == "max_version") {
        auto v = r.one_of(value, at, tls_versions);
        if (!v) return v.error();
        (key == "min_version" ? tls.min_version : tls.max_version) = *v;
        return Ok{};
    }
    auto text = r.scalar(value, at);
    if (!text) return text.error();
    const std::string path = r.path_in_dir(*text);
    (key == "cert_file" ? tls.cert_file : key == "key_file" ? tls.key_file : tls.client_ca_file) = path;
    return Ok{};
}

// The combinations node_exporter refuses, and a verifying one without a CA
// (which would fall back on no CA at all).
Status check_tls(const Reader& r, const TlsServerSettings& tls) {
    if (tls.cert_file.empty() || tls.key_file.empty())
        return r.bad("tls_server_config has no " + std::string(tls.cert_file.empty() ? "cert_file" : "key_file"),
                     "give cert_file and key_file: the server's certificate and its private key, PEM");
    const bool verifies =
        tls.client_auth == ClientAuth::verify_if_given || tls.client_auth == ClientAuth::require_and_verify;
    if (!tls.client_ca_file.empty() && tls.client_auth == ClientAuth::none)
        return r.bad("tls_server_config has client_ca_file but client_auth_type NoClientCert",
                     "set client_auth_type: RequireAndVerifyClientCert, or remove client_ca_file");
    if (verifies && tls.client_ca_file.empty())
        return r.bad("tls_server_config: client_auth_type verifies client certificates, and there is no client_ca_file",
                     "give client_ca_file: the CA that signs the scrapers' certificates");
    if (tls.min_version > tls.max_version)
        return r.bad("tls_server_config: min_version is above max_version", "give min_version <= max_version");
    return Ok{};
}

bool absent(const YAML::Node& node) { return !node.IsDefined() || node.IsNull(); }

Result<std::optional<TlsServerSettings>> read_tls(const Reader& r, const YAML::Node& node) {
    if (absent(node)) return std::optional<TlsServerSettings>{};
    if (Status s = r.check_keys(node, "tls_server_config", tls_keys); !s) return s.error();
    if (node.size() == 0) return std::optional<TlsServerSettings>{};
    TlsServerSettings tls;
    for (const auto& entry : node)
        if (Status s = read_tls_field(r, entry.first.Scalar(), entry.second, tls); !s) return s.error();
    if (Status s = check_tls(r, tls); !s) return s.error();
    return std::optional<TlsServerSettings>(tls);
}

Result<std::map<std::string, std::string>> read_users(const Reader& r, const YAML::Node& node) {
    std::map<std::string, std::string> users;
    if (absent(node)) return users;
    if (!node.IsMap()) return r.bad("basic_auth_users is not a mapping", "write one NAME: BCRYPT-HASH line per user");
    for (const auto& entry : node) {
        auto name = r.scalar(entry.first, "a name in basic_auth_users");
        if (!name) return name.error();
        const std::string at = "basic_auth_users." + *name;
        if (name->empty() || name->find(':') != std::string::npos)
            return r.bad(at + ": a user name is not empty and holds no ':'", "rename the user");
        auto hash = r.scalar(entry.second, at);
        if (!hash) return hash.error();
        if (const std::string problem = bcrypt_hash_problem(*hash); !problem.empty())
            return r.bad(at + ": " + problem, hash_fix);
        if (!users.emplace(*name, *hash).second) return r.bad(at + " is given twice", "give each user once");
    }
    return users;
}

}  // namespace

Result<WebConfig> load_web_config(const std::string& path) {
    auto text = read_small_file(path, max_web_config_bytes, "--web-config-file");
    if (!text) return text.error();
    const Reader r(path);
    YAML::Node root;
    try {
        root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
        const std::string at = e.mark.is_null() ? ""
                                                : " at line " + std::to_string(e.mark.line + 1) + ", column " +
                                                      std::to_string(e.mark.column + 1);
        return r.bad("not YAML" + at + ": " + e.msg, "write node_exporter's web configuration format (YAML)");
    }
    WebConfig config;
    if (root.IsNull()) return config;  // an empty file: as node_exporter, neither TLS nor authentication
    if (Status s = r.check_keys(root, "the file", top_keys); !s) return s.error();
    auto tls = read_tls(r, root["tls_server_config"]);
    if (!tls) return tls.error();
    config.tls = *tls;
    auto users = read_users(r, root["basic_auth_users"]);
    if (!users) return users.error();
    config.basic_auth_users = *users;
    return config;
}

}  // namespace dtrack::cli::sidecar
