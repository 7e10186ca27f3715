#include "cli/http_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include <initwatch/error.h>

#include "report/clock.h"

namespace initwatch::cli {

namespace {

constexpr const char* kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

[[noreturn]] void bad_address(std::string_view text) {
    throw Error("--metrics-address '" + std::string(text) + "': expected HOST:PORT, [IPV6]:PORT or :PORT");
}

std::string display(const std::string& host, uint16_t port) {
    const bool ipv6 = host.find(':') != std::string::npos;
    return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Scrapes and probes are a few requests a minute: a handful of threads is plenty, where
// httplib's default pool has one per CPU.
constexpr size_t kServerThreads = 4;

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

struct HttpEndpoint::Server {
    httplib::Server http;
    std::atomic<bool> finished{false};
};

HttpEndpoint::HttpEndpoint(const std::string& address, const report::Metrics& metrics,
                           const report::Health& health)
    : server_(std::make_unique<Server>()) {
    const ListenAddress where = parse_listen_address(address);
    httplib::Server& http = server_->http;

    http.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
    // httplib's default sets SO_REUSEPORT, which lets a second initwatch bind the same port
    // and silently share the scrapes; SO_REUSEADDR alone still allows a quick restart.
    http.set_socket_options([](socket_t sock) {
        const int yes = 1;
        setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    http.set_payload_max_length(4096);  // GET only: no request needs a body

    http.Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics.exposition(), kExpositionType);
    });
    http.Get("/healthz", [&health](const httplib::Request&, httplib::Response& res) {
        const uint64_t now = report::monotonic_now_ns();
        if (health.healthz(now)) {
            res.set_content("ok\n", "text/plain");
            return;
        }
        res.status = 503;
        if (!health.attached())
            res.set_content("probes not attached\n", "text/plain");
        else if (health.last_drain_ns() == 0)
            res.set_content("ring buffer never drained\n", "text/plain");
        else
            res.set_content("ring buffer last drained " +
                                report::format_duration(now - health.last_drain_ns()) + " ago\n",
                            "text/plain");
    });
    http.Get("/readyz", [&health](const httplib::Request&, httplib::Response& res) {
        if (health.readyz()) {
            res.set_content("ready\n", "text/plain");
        } else {
            res.status = 503;
            res.set_content("startup snapshot not done\n", "text/plain");
        }
    });

    // ":PORT" means every interface: IPv6 with IPv4 mapped where the node has IPv6, else IPv4.
    const std::vector<std::string> hosts =
        where.host.empty() ? std::vector<std::string>{"::", "0.0.0.0"} : std::vector<std::string>{where.host};
    int bound = -1;
    int bind_errno = 0;
    for (const std::string& host : hosts) {
        errno = 0;
        bound = where.port == 0 ? http.bind_to_any_port(host)
                                : (http.bind_to_port(host, where.port) ? where.port : -1);
        if (bound >= 0) break;
        bind_errno = errno;
    }
    if (bound < 0)
        throw Error("cannot listen on " + display(where.host, where.port) + " (--metrics-address): " +
                    (bind_errno ? std::strerror(bind_errno) : "unknown host or address"));
    port_ = static_cast<uint16_t>(bound);

    thread_ = std::thread([server = server_.get()] {
        server->http.listen_after_bind();
        server->finished = true;
    });
    // stop() is a no-op until the accept loop runs: wait for it, or a destructor called
    // right away would join a thread that never stops.
    while (!server_->http.is_running() && !server_->finished)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

HttpEndpoint::~HttpEndpoint() {
    server_->http.stop();
    thread_.join();
}

}  // namespace initwatch::cli
