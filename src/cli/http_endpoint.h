// The node agent's HTTP side: /metrics (Prometheus), /healthz and /readyz (kubelet probes),
// served by cpp-httplib on a background thread while the collector runs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "report/metrics.h"

namespace initwatch::cli {

struct ListenAddress {
    std::string host;   // "" for every interface
    uint16_t port = 0;  // 0: any free port
};

// "HOST:PORT", "[IPV6]:PORT" or ":PORT"; throws initwatch::Error on anything else.
ListenAddress parse_listen_address(std::string_view text);

class HttpEndpoint {
public:
    // Binds now (a busy port or a foreign address throws initwatch::Error), then serves on
    // a background thread. metrics and health must outlive the endpoint.
    HttpEndpoint(const std::string& address, const report::Metrics& metrics, const report::Health& health);
    // Stops serving and joins the thread.
    ~HttpEndpoint();
    HttpEndpoint(const HttpEndpoint&) = delete;
    HttpEndpoint& operator=(const HttpEndpoint&) = delete;

    // The bound port: the chosen one when the address asked for port 0.
    uint16_t port() const { return port_; }

private:
    struct Server;
    std::unique_ptr<Server> server_;
    uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace initwatch::cli
