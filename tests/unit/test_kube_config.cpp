// Finding the API server as every Kubernetes client does: the service account in a pod, a
// kubeconfig file elsewhere. Bad files give one clear error, never a crash.
#include <initwatch/error.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "k8s/kube_config.h"
#include "temp_dir.h"

using namespace initwatch;
using initwatch::test::TempDir;

namespace {

void write(const std::filesystem::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

const char* kKubeconfig = R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: other
  cluster: {server: "https://other:6443"}
- name: prod-cluster
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority: certs/ca.crt
users:
- name: agent
  user:
    tokenFile: token
contexts:
- name: dev
  context: {cluster: other, user: agent}
- name: prod
  context: {cluster: prod-cluster, user: agent}
)";

}  // namespace

TEST_CASE("in a pod: the service's host and port, the account's token file and CA") {
    TempDir sa;
    write(sa.path / "token", "eyJhbGciOi.token\n");
    write(sa.path / "ca.crt", "PEM");
    const auto c = k8s::in_cluster_config(
        {{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, sa.path.string());
    CHECK(c.server == "https://[fd00::1]:443");
    CHECK(c.token_file == (sa.path / "token").string());  // re-read per request: tokens rotate
    CHECK(c.ca.file == (sa.path / "ca.crt").string());
    CHECK(error_of([&] { k8s::in_cluster_config({}, sa.path.string()); }).find("not in a pod") !=
          std::string::npos);
    CHECK(error_of([&] {
              k8s::in_cluster_config(
                  {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
                  "/nonexistent");
          }).find("cannot read /nonexistent/token") != std::string::npos);
}

TEST_CASE("a kubeconfig: the current context's cluster and user, names relative to the file") {
    TempDir dir;
    write(dir.path / "config", kKubeconfig);
    const auto c = k8s::kubeconfig((dir.path / "config").string());
    CHECK(c.server == "https://10.0.0.1:6443");
    CHECK(c.ca.file == (dir.path / "certs/ca.crt").string());
    CHECK(c.token_file == (dir.path / "token").string());
    CHECK(c.client_cert.empty());
}

TEST_CASE("a kubeconfig with inline data: base64 decoded; a client certificate with its key") {
    TempDir dir;
    write(dir.path / "config", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://api:6443", certificate-authority-data: UEVNIENB}}]
users: [{name: u, user: {client-certificate-data: Q0VSVA==, client-key-data: S0VZ, token: " abc "}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
    const auto c = k8s::kubeconfig((dir.path / "config").string());
    CHECK(c.ca.data == "PEM CA");
    CHECK(c.client_cert.data == "CERT");
    CHECK(c.client_key.data == "KEY");
    CHECK(c.token == " abc");
}

TEST_CASE("bad kubeconfigs: one line that says what is wrong") {
    TempDir dir;
    const auto path = (dir.path / "config").string();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{{{", "not a kubeconfig"},
        {"clusters: []", "no current-context"},
        {"current-context: x\ncontexts: []", "no context named \"x\""},
        {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\nclusters: "
         "[{name: k, cluster: {server: \"http://api:8080\"}}]",
         "must be an https:// URL"},
        {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\nclusters: "
         "[{name: k, cluster: {server: \"https://a\", insecure-skip-tls-verify: true}}]",
         "insecure-skip-tls-verify is not supported"},
        {"current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: "
         "[{name: k, cluster: {server: \"https://a\"}}]\nusers: [{name: u, user: {client-certificate: "
         "c.pem}}]",
         "needs its key"},
        {"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\nclusters: "
         "[{name: k, cluster: {server: \"https://a\", certificate-authority-data: \"!!!\"}}]",
         "not valid base64"},
        {"- a\n- b", "no current-context"},
    };
    for (const auto& [text, expected] : cases) {
        write(path, text);
        const std::string error = error_of([&] { k8s::kubeconfig(path); });
        INFO(text);
        CHECK(error.find(expected) != std::string::npos);
        CHECK(error.find('\n') == std::string::npos);
    }
    CHECK(error_of([&] { k8s::kubeconfig("/nonexistent/config"); }).find("cannot read") != std::string::npos);
    write(path, std::string(2 << 20, '#'));
    CHECK(error_of([&] { k8s::kubeconfig(path); }).find("larger than") != std::string::npos);
}
