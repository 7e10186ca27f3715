// The /metrics, /healthz and /readyz endpoint against clients a hostile pod could run: it must
// keep answering the kubelet's probes, stay within its memory and stop at once on SIGTERM.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../common/raw_http.h"
#include "http/endpoint.h"
#include "pipeline/health.h"
#include "report/clock.h"
#include "report/metrics.h"
#include "util/time.h"

using namespace initwatch;
using namespace initwatch::test;
using Clock = std::chrono::steady_clock;

namespace {

constexpr double kProbeDeadline = 1.0;  // seconds: what each probe must answer within
constexpr size_t kSlowClients = 64;

// 127.0.0.16, 127.0.0.17, ...: the attackers' addresses, all loopback; the probes come
// from 127.0.0.1. Spread so that each stays under the per-address limit and the attack is
// really held open, as many pods together would.
std::vector<std::string> attacker_addresses(size_t count) {
    std::vector<std::string> out;
    for (size_t i = 0; i < count; ++i) out.push_back("127.0.0." + std::to_string(16 + i));
    return out;
}

size_t addresses_for(size_t clients) {
    return (clients + http::HttpEndpoint::kMaxConnectionsPerAddress - 1) /
           http::HttpEndpoint::kMaxConnectionsPerAddress;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Healthy {
    report::Metrics metrics;
    pipeline::Health health;
    Healthy() {
        health.set_attached();
        health.set_drained(util::monotonic_now_ns());
        health.set_snapshot_done();
    }
};

}  // namespace

TEST_CASE("64 clients trickling a request line do not slow /healthz or /readyz", "[http][hostile]") {
    Healthy state;
    http::HttpEndpoint endpoint("127.0.0.1:0", state.metrics, state.health);
    SlowClients slow("127.0.0.1", endpoint.port(), kSlowClients,
                     attacker_addresses(addresses_for(kSlowClients) * 2));
    REQUIRE(slow.connected() == kSlowClients);

    double worst = 0;
    const auto start = Clock::now();
    for (int round = 0; round < 30 && seconds_since(start) < 4; ++round) {
        state.health.set_drained(util::monotonic_now_ns());
        for (const char* path : {"/healthz", "/readyz"}) {
            CAPTURE(path, round);
            const HttpReply reply = http_get("127.0.0.1", endpoint.port(), path, 3 * kProbeDeadline);
            CHECK(reply.status == 200);
            CHECK(reply.seconds < kProbeDeadline);
            worst = std::max(worst, reply.seconds);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    WARN("slowest probe with " << kSlowClients << " trickling clients: " << worst * 1000 << " ms");
    // The attack was real: each sends within the idle timeout, so none was dropped.
    CHECK(slow.still_open() == kSlowClients);
}

TEST_CASE("64 MiB of header lines: the sender is cut off, memory stays flat, probes answer",
          "[http][hostile]") {
    Healthy state;
    http::HttpEndpoint endpoint("127.0.0.1:0", state.metrics, state.health);
    for (int i = 0; i < 3; ++i) REQUIRE(http_get("127.0.0.1", endpoint.port(), "/metrics").status == 200);

    constexpr uint64_t kFlood = 64ULL << 20;
    const uint64_t rss_before = rss_bytes();
    std::atomic<bool> flooding{true};
    std::vector<FloodResult> floods;
    uint64_t total = 0;
    // Each connection would send all 64 MiB; a fresh one each time the server cuts one off,
    // until 64 MiB have gone out in all.
    std::thread attacker([&] {
        const auto start = Clock::now();
        for (int i = 0; i < 5000 && total < kFlood && seconds_since(start) < 20; ++i) {
            floods.push_back(flood_headers("127.0.0.1", endpoint.port(), kFlood, 20));
            total += floods.back().bytes_sent;
        }
        flooding = false;
    });
    uint64_t rss_peak = rss_before;
    double worst = 0;
    int probes = 0;
    for (const auto start = Clock::now();
         (flooding || probes < 3) && probes < 1000 && seconds_since(start) < 30; ++probes) {
        const HttpReply reply = http_get("127.0.0.1", endpoint.port(), "/healthz", 3 * kProbeDeadline);
        CAPTURE(probes);
        CHECK(reply.status == 200);
        CHECK(reply.seconds < kProbeDeadline);
        worst = std::max(worst, reply.seconds);
        rss_peak = std::max(rss_peak, rss_bytes());
    }
    attacker.join();
    rss_peak = std::max(rss_peak, rss_bytes());

    uint64_t most = 0;
    for (const FloodResult& f : floods) most = std::max(most, f.bytes_sent);
    WARN("64 MiB of headers over " << floods.size() << " connections (at most " << most / 1024
                                   << " KiB sent on one, first answered " << floods.front().status
                                   << "); slowest probe " << worst * 1000 << " ms; RSS +"
                                   << (rss_peak - rss_before) / 1024 << " KiB at most");
    REQUIRE(total >= kFlood);
    const bool all_cut_off =
        std::all_of(floods.begin(), floods.end(), [](const FloodResult& f) { return f.closed_by_server; });
    CHECK(all_cut_off);
#if defined(__SANITIZE_ADDRESS__)
    // ASan keeps freed memory in quarantine (and pads every allocation): RSS says nothing here.
#else
    CHECK(rss_peak - rss_before <= 4ULL << 20);
#endif
}

TEST_CASE("destroying the endpoint with 64 slow clients connected returns within 1 s", "[http][hostile]") {
    Healthy state;
    auto endpoint = std::make_unique<http::HttpEndpoint>("127.0.0.1:0", state.metrics, state.health);
    const uint16_t port = endpoint->port();
    SlowClients slow("127.0.0.1", port, kSlowClients, attacker_addresses(addresses_for(kSlowClients) * 2));
    REQUIRE(slow.connected() == kSlowClients);
    // And some that asked for the scrape and never read it.
    std::vector<int> readers;
    for (int i = 0; i < 4; ++i) {
        const int fd = tcp_connect("127.0.0.1", port, 2, "127.0.0.15");
        REQUIRE(fd >= 0);
        const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
        REQUIRE(send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size()));
        readers.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // all of them in and served

    const auto start = Clock::now();
    endpoint.reset();
    const double took = seconds_since(start);
    WARN("endpoint destroyed in " << took * 1000 << " ms with " << kSlowClients + readers.size()
                                  << " slow clients connected");
    CHECK(took < 1.0);
    CHECK(slow.still_open_after(1) == 0);
    for (const int fd : readers) {
        CHECK(closed_by_peer(fd, 1));
        close(fd);
    }
    CHECK(tcp_connect("127.0.0.1", port, 1) < 0);
}

TEST_CASE("one address cannot take more than its share of connections", "[http][hostile]") {
    Healthy state;
    http::HttpEndpoint endpoint("127.0.0.1:0", state.metrics, state.health);
    constexpr size_t kShare = http::HttpEndpoint::kMaxConnectionsPerAddress;
    SlowClients held("127.0.0.1", endpoint.port(), kShare, {"127.0.0.1"});
    REQUIRE(held.connected() == kShare);

    for (int i = 0; i < 4; ++i) {
        CAPTURE(i);
        const int extra = tcp_connect("127.0.0.1", endpoint.port(), 1, "127.0.0.1");
        REQUIRE(extra >= 0);  // the kernel completes the handshake; the server then refuses it
        CHECK(closed_by_peer(extra, 1));
        close(extra);
    }
    CHECK(http_get("127.0.0.1", endpoint.port(), "/healthz", 1, "127.0.0.1").status == 0);
    const HttpReply other =
        http_get("127.0.0.1", endpoint.port(), "/healthz", 3 * kProbeDeadline, "127.0.0.2");
    CHECK(other.status == 200);
    CHECK(other.seconds < kProbeDeadline);
    CHECK(held.still_open() == kShare);
}

TEST_CASE("a connection that sends nothing is closed after the idle timeout", "[http][hostile]") {
    Healthy state;
    http::HttpEndpoint endpoint("127.0.0.1:0", state.metrics, state.health);
    const int fd = tcp_connect("127.0.0.1", endpoint.port(), 1);
    REQUIRE(fd >= 0);
    const auto start = Clock::now();
    CHECK(closed_by_peer(fd, http::HttpEndpoint::kIdleTimeoutSeconds + 2.0));
    const double took = seconds_since(start);
    close(fd);
    CHECK(took > http::HttpEndpoint::kIdleTimeoutSeconds - 0.5);
}
