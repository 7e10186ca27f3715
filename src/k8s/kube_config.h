// How to reach the Kubernetes API, found as every Kubernetes client finds it: in a pod from
// the service account (client-go's InClusterConfig), elsewhere from a kubeconfig file
// (--kubeconfig, then $KUBECONFIG).
#pragma once

#include <map>
#include <optional>
#include <string>

namespace initwatch::k8s {

// PEM bytes, or a file holding them.
struct Pem {
    std::string data;
    std::string file;
    bool empty() const { return data.empty() && file.empty(); }
};

struct ClusterConfig {
    std::string server;      // https://host:port, no trailing slash
    Pem ca;                  // empty: the system's CA store
    std::string token;       // a bearer token, or
    std::string token_file;  // a file re-read for every request (bound tokens rotate)
    Pem client_cert;
    Pem client_key;
    std::string source;  // where it came from, for messages
};

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

// From KUBERNETES_SERVICE_HOST/_PORT and the service account's token and ca.crt. Throws
// initwatch::Error (one line) when not in a pod.
ClusterConfig in_cluster_config(const std::map<std::string, std::string>& env,
                                const std::string& service_account_dir = kServiceAccountDir);

// The current context's cluster and user of a kubeconfig file (YAML). Relative file names
// are relative to the file's directory, as kubectl reads them. Throws initwatch::Error.
ClusterConfig kubeconfig(const std::string& path);

// --kubeconfig if given, else $KUBECONFIG (its first file), else in-cluster.
ClusterConfig find_config(const std::string& kubeconfig_path);

// A small file (a token, a certificate) as untrusted input: at most max_bytes, no symlink
// games beyond what the path says, trailing whitespace trimmed for tokens.
std::string read_small_file(const std::string& path, size_t max_bytes = 64 * 1024);

}  // namespace initwatch::k8s
