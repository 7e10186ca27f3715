// HTTPS requests to the Kubernetes API through libcurl: the cluster's CA verified, a bearer
// token (re-read from its file for every request) or a client certificate, every request
// bounded in time and in the bytes kept of the answer. One request at a time; cancel()
// from another thread ends the one in progress.
#pragma once

#include <atomic>
#include <optional>
#include <string>

#include "k8s/kube_config.h"

namespace initwatch::k8s {

struct Response {
    long status = 0;                        // HTTP status; 0 when no answer came (error says why)
    std::string body;                       // at most Limits::max_response_bytes
    std::string error;                      // curl's reason when status is 0
    std::optional<unsigned> retry_after_s;  // a Retry-After header in seconds
};

// The Status object an API server answers a refusal with (kind Status): its machine-readable
// `reason` (Forbidden, NotFound, AlreadyExists, Invalid, ...) and its `message` for people
// (the JSON string decoded). Unset when the body is not one (a proxy's page, a cut body).
struct ApiStatus {
    std::string reason;
    std::string message;
};
std::optional<ApiStatus> parse_status(const std::string& body);

class ApiClient {
public:
    struct Limits {
        long connect_timeout_ms = 3000;
        long timeout_ms = 10000;
        size_t max_response_bytes = 64 * 1024;
    };

    explicit ApiClient(ClusterConfig config);
    ApiClient(ClusterConfig config, Limits limits);
    ~ApiClient();
    ApiClient(const ApiClient&) = delete;
    ApiClient& operator=(const ApiClient&) = delete;

    // `path` starts with '/'; `body` is sent with `content_type` when not empty.
    Response request(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& content_type);
    void cancel() { cancelled_.store(true); }

    const ClusterConfig& config() const { return config_; }

private:
    ClusterConfig config_;
    Limits limits_;
    void* curl_ = nullptr;  // CURL*, reused: one connection kept alive
    std::atomic<bool> cancelled_{false};
};

}  // namespace initwatch::k8s
