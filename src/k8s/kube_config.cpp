#include "k8s/kube_config.h"

#include <initwatch/error.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>

#include "util/errno_text.h"

namespace initwatch::k8s {

namespace {

constexpr size_t kMaxKubeconfigBytes = size_t{1} << 20;

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
        s.pop_back();
    return s;
}

std::string bracket_ipv6(const std::string& host) {
    return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

std::string relative_to(const std::string& dir, const std::string& file) {
    if (file.empty() || file.front() == '/' || dir.empty()) return file;
    return dir + "/" + file;
}

std::string decode_base64(const std::string& field, const std::string& text, const std::string& source) {
    const std::vector<unsigned char> bytes = YAML::DecodeBase64(text);
    if (bytes.empty() && !text.empty()) throw Error(source + ": " + field + " is not valid base64");
    return std::string(bytes.begin(), bytes.end());
}

// The entry of a named list (clusters, users, contexts) whose name is `name`.
YAML::Node named(const YAML::Node& list, const std::string& name, const char* what,
                 const std::string& source) {
    if (list && list.IsSequence())
        for (const auto& entry : list)
            if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) return entry[what];
    throw Error(source + ": no " + what + " named \"" + name + "\"");
}

std::string string_field(const YAML::Node& map, const char* key) {
    const YAML::Node n = map ? map[key] : YAML::Node();
    return n && n.IsScalar() ? n.as<std::string>() : std::string();
}

}  // namespace

std::string read_small_file(const std::string& path, size_t max_bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error("cannot read " + path + ": " + util::errno_text(errno));
    std::string data(max_bytes + 1, '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<size_t>(in.gcount()));
    if (data.size() > max_bytes)
        throw Error(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    return data;
}

ClusterConfig in_cluster_config(const std::map<std::string, std::string>& env, const std::string& sa_dir) {
    const auto host = env.find("KUBERNETES_SERVICE_HOST");
    const auto port = env.find("KUBERNETES_SERVICE_PORT");
    if (host == env.end() || port == env.end() || host->second.empty() || port->second.empty())
        throw Error(
            "not in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT unset): "
            "give --kubeconfig for the Kubernetes API");
    ClusterConfig c;
    c.server = "https://" + bracket_ipv6(host->second) + ":" + port->second;
    c.token_file = sa_dir + "/token";
    c.ca.file = sa_dir + "/ca.crt";
    c.source = "the pod's service account";
    read_small_file(c.token_file);  // mounted? a clear error now rather than at the first finding
    return c;
}

ClusterConfig kubeconfig(const std::string& path) {
    const std::string text = read_small_file(path, kMaxKubeconfigBytes);
    const std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw Error(path + ": not a kubeconfig: " + e.msg);
    }
    try {
        const std::string current = string_field(root, "current-context");
        if (current.empty()) throw Error(path + ": no current-context");
        const YAML::Node context = named(root["contexts"], current, "context", path);
        const YAML::Node cluster = named(root["clusters"], string_field(context, "cluster"), "cluster", path);
        const std::string user_name = string_field(context, "user");
        const YAML::Node user =
            user_name.empty() ? YAML::Node() : named(root["users"], user_name, "user", path);

        ClusterConfig c;
        c.source = path;
        c.server = string_field(cluster, "server");
        while (!c.server.empty() && c.server.back() == '/') c.server.pop_back();
        if (c.server.rfind("https://", 0) != 0)
            throw Error(path + ": the cluster's server must be an https:// URL (got \"" + c.server + "\")");
        if (string_field(cluster, "insecure-skip-tls-verify") == "true")
            throw Error(path + ": insecure-skip-tls-verify is not supported: give certificate-authority");
        c.ca.file = relative_to(dir, string_field(cluster, "certificate-authority"));
        if (auto data = string_field(cluster, "certificate-authority-data"); !data.empty())
            c.ca.data = decode_base64("certificate-authority-data", data, path);
        c.token = trim(string_field(user, "token"));
        c.token_file = relative_to(dir, string_field(user, "tokenFile"));
        c.client_cert.file = relative_to(dir, string_field(user, "client-certificate"));
        if (auto data = string_field(user, "client-certificate-data"); !data.empty())
            c.client_cert.data = decode_base64("client-certificate-data", data, path);
        c.client_key.file = relative_to(dir, string_field(user, "client-key"));
        if (auto data = string_field(user, "client-key-data"); !data.empty())
            c.client_key.data = decode_base64("client-key-data", data, path);
        if (c.client_cert.empty() != c.client_key.empty())
            throw Error(path + ": a client certificate needs its key (and a key its certificate)");
        return c;
    } catch (const YAML::Exception& e) {
        throw Error(path + ": not a kubeconfig: " + e.msg);
    }
}

ClusterConfig find_config(const std::string& kubeconfig_path) {
    if (!kubeconfig_path.empty()) return kubeconfig(kubeconfig_path);
    if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
        std::string first(env);
        first = first.substr(0, first.find(':'));
        return kubeconfig(first);
    }
    std::map<std::string, std::string> env;
    for (const char* name : {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"})
        if (const char* value = std::getenv(name)) env[name] = value;
    return in_cluster_config(env);
}

}  // namespace initwatch::k8s
