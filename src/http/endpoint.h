// The node agent's HTTP side: /metrics (Prometheus), /healthz and /readyz (kubelet probes),
// served while the collector runs, and reachable by every pod on the node.
// GNU libmicrohttpd: a packaged C library serving from one event-driven thread, with bounds on
// each connection's memory, idle time and connections per address built in. cpp-httplib (a
// thread per request, no header bound) was starved by four slow clients; Beast would leave them to us.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "pipeline/health.h"
#include "report/metrics.h"

struct MHD_Daemon;

namespace initwatch::http {

struct ListenAddress {
    std::string host;   // "" for every interface
    uint16_t port = 0;  // 0: any free port
};

// "HOST:PORT", "[IPV6]:PORT" or ":PORT"; throws initwatch::Error on anything else.
ListenAddress parse_listen_address(std::string_view text);

// Serves GET and HEAD on one thread that never waits on a client. What any client (a hostile
// pod included) can hold is bounded by the limits below; past them it is answered 431 or 414
// (request too large), disconnected (idle, or over its address's share), or left in the
// kernel's accept queue (server full).
class HttpEndpoint {
public:
    // The request line and headers must fit in this; a probe or scrape sends well under 1 KiB.
    static constexpr size_t kConnectionMemoryBytes = 16 * 1024;
    // A connection that sends and receives nothing for this long is closed.
    static constexpr unsigned kIdleTimeoutSeconds = 2;
    static constexpr unsigned kMaxConnections = 256;
    // Per client address: a pod cannot take more, so the kubelet's address always has room
    // (unless many addresses fill kMaxConnections together).
    static constexpr unsigned kMaxConnectionsPerAddress = 16;

    // Binds now (a busy port or a foreign address throws initwatch::Error), then serves on
    // a background thread. metrics and health must outlive the endpoint.
    HttpEndpoint(const std::string& address, const report::Metrics& metrics, const pipeline::Health& health);
    // Closes every connection, whatever state its client left it in, and joins the thread.
    ~HttpEndpoint();
    HttpEndpoint(const HttpEndpoint&) = delete;
    HttpEndpoint& operator=(const HttpEndpoint&) = delete;

    // The bound port: the chosen one when the address asked for port 0.
    uint16_t port() const { return port_; }

private:
    struct Handlers;
    std::unique_ptr<Handlers> handlers_;  // what the daemon's thread calls back into
    MHD_Daemon* daemon_ = nullptr;
    uint16_t port_ = 0;
};

}  // namespace initwatch::http
