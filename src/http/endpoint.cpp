#include "http/endpoint.h"

#include <initwatch/error.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "util/errno_text.h"
#include "util/time.h"

namespace initwatch::http {

namespace {

constexpr const char* kExpositionType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextType = "text/plain; charset=utf-8";

[[noreturn]] void bad_address(std::string_view text) {
    throw Error("--metrics-address '" + std::string(text) + "': expected HOST:PORT, [IPV6]:PORT or :PORT");
}

std::string display(const std::string& host, uint16_t port) {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// A listening socket on the first of host's addresses that binds, or -1 with why in `error`.
int listen_on(const std::string& host, uint16_t port, std::string& error) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc != 0) {
        error = gai_strerror(rc);
        return -1;
    }
    int fd = -1;
    for (const addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            error = util::errno_text(errno);
            continue;
        }
        // SO_REUSEADDR for a quick restart; never SO_REUSEPORT, which would let a second
        // initwatch bind the same port and silently share the scrapes.
        const int yes = 1;
        const int no = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        // "::" takes IPv4 too, whatever net.ipv6.bindv6only says.
        if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
            error = util::errno_text(errno);
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    return fd;
}

uint16_t bound_port(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
}

MHD_Result reply(MHD_Connection* connection, unsigned status, const std::string& body,
                 const char* content_type = kTextType) {
    MHD_Response* response =
        MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (!response) return MHD_NO;  // out of memory: MHD closes the connection
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    const MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

}  // namespace

ListenAddress parse_listen_address(std::string_view text) {
    ListenAddress out;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const size_t close = text.find(']');
        if (close == std::string_view::npos || close == 1 || close + 1 >= text.size() ||
            text[close + 1] != ':')
            bad_address(text);
        out.host = std::string(text.substr(1, close - 1));
        port = text.substr(close + 2);
    } else {
        const size_t colon = text.rfind(':');
        if (colon == std::string_view::npos) bad_address(text);
        out.host = std::string(text.substr(0, colon));
        // An unbracketed IPv6 address is ambiguous: is "::1:9090" port 9090 of ::1?
        if (out.host.find(':') != std::string::npos) bad_address(text);
        port = text.substr(colon + 1);
    }
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos)
        bad_address(text);
    const unsigned long value = std::stoul(std::string(port));
    if (value > 65535) bad_address(text);
    out.port = static_cast<uint16_t>(value);
    return out;
}

struct HttpEndpoint::Handlers {
    const report::Metrics& metrics;
    const pipeline::Health& health;

    // MHD calls this on its thread once the request line and headers are in (and again for
    // each piece of a body, which no answer here waits for).
    static MHD_Result answer(void* cls, MHD_Connection* connection, const char* url, const char* method,
                             const char* /*version*/, const char* /*upload_data*/,
                             size_t* /*upload_data_size*/, void** /*request_state*/) {
        const Handlers& self = *static_cast<const Handlers*>(cls);
        if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        const std::string_view path = url;
        if (path == "/metrics")
            return reply(connection, MHD_HTTP_OK, self.metrics.exposition(), kExpositionType);
        if (path == "/healthz") return self.healthz(connection);
        if (path == "/readyz")
            return self.health.readyz()
                       ? reply(connection, MHD_HTTP_OK, "ready\n")
                       : reply(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "startup snapshot not done\n");
        return reply(connection, MHD_HTTP_NOT_FOUND, "not found\n");
    }

    MHD_Result healthz(MHD_Connection* connection) const {
        const uint64_t now = util::monotonic_now_ns();
        if (health.healthz(now)) return reply(connection, MHD_HTTP_OK, "ok\n");
        if (!health.attached())
            return reply(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "probes not attached\n");
        if (health.last_drain_ns() == 0)
            return reply(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "ring buffer never drained\n");
        return reply(
            connection, MHD_HTTP_SERVICE_UNAVAILABLE,
            "ring buffer last drained " + util::format_duration(now - health.last_drain_ns()) + " ago\n");
    }
};

HttpEndpoint::HttpEndpoint(const std::string& address, const report::Metrics& metrics,
                           const pipeline::Health& health)
    : handlers_(std::make_unique<Handlers>(Handlers{metrics, health})) {
    const ListenAddress where = parse_listen_address(address);
    // ":PORT" means every interface: IPv6 with IPv4 mapped where the node has IPv6, else IPv4.
    const std::vector<std::string> hosts =
        where.host.empty() ? std::vector<std::string>{"::", "0.0.0.0"} : std::vector<std::string>{where.host};
    int fd = -1;
    std::string error;
    for (const std::string& host : hosts)
        if ((fd = listen_on(host, where.port, error)) >= 0) break;
    if (fd < 0)
        throw Error("cannot listen on " + display(where.host, where.port) + " (--metrics-address): " + error);
    port_ = bound_port(fd);

    // One thread polls every connection with epoll and only ever does non-blocking I/O, so no
    // client, however slow, holds up another. No MHD_USE_ERROR_LOG: a hostile client must not
    // be able to fill the agent's log.
    daemon_ = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC, 0, nullptr, nullptr,
                               &Handlers::answer, handlers_.get(), MHD_OPTION_LISTEN_SOCKET, fd,  //
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionMemoryBytes,        //
                               MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutSeconds,                //
                               MHD_OPTION_CONNECTION_LIMIT, kMaxConnections,                      //
                               MHD_OPTION_PER_IP_CONNECTION_LIMIT, kMaxConnectionsPerAddress,     //
                               MHD_OPTION_END);
    // On failure MHD 0.9.75 has closed fd on some paths and not on others: leave it rather
    // than risk closing a descriptor reused meanwhile (the error ends the process anyway).
    if (!daemon_)
        throw Error("cannot serve on " + display(where.host, port_) +
                    " (--metrics-address): libmicrohttpd failed to start");
}

// MHD_stop_daemon wakes the thread through its ITC, which closes every connection where it
// stands and exits: nothing waits for a client. (MHD_quiesce_daemon would only stop new
// connections and leave the rest to drain, the wait a SIGTERM must not have.) It closes the
// listening socket too.
HttpEndpoint::~HttpEndpoint() { MHD_stop_daemon(daemon_); }

}  // namespace initwatch::http
