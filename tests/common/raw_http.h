// Plain and hostile HTTP clients over raw sockets, for the tests of the /metrics, /healthz and
// /readyz endpoint: what a kubelet probe does, and what a pod on the node could do to it.
// Every wait has a deadline.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace initwatch::test {

// A TCP connection to ip:port, from `source` when given (any 127.0.0.0/8 address is
// loopback too); -1 when not connected within timeout_s.
int tcp_connect(const std::string& ip, uint16_t port, double timeout_s, const std::string& source = "");

struct HttpReply {
    int status = 0;                              // 0: no complete reply in time
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    double seconds = 0;  // from connecting to the end of the reply
    std::string header(const std::string& lower_case_name) const;
};

// One request on a fresh connection ("Connection: close"), read until the server closes.
HttpReply http_request(const std::string& ip, uint16_t port, const std::string& method,
                       const std::string& path, double timeout_s = 5, const std::string& source = "");
inline HttpReply http_get(const std::string& ip, uint16_t port, const std::string& path, double timeout_s = 5,
                          const std::string& source = "") {
    return http_request(ip, port, "GET", path, timeout_s, source);
}

// True when the server closes fd (EOF or reset) within timeout_s; what it sends is discarded.
bool closed_by_peer(int fd, double timeout_s);
// True when fd is still open: nothing to read, no EOF, no reset (does not wait).
bool still_open(int fd);

// `count` connections, spread over `sources`, each sending one byte of a request line that
// never ends every `interval`: always busy, never done. Closed by the destructor.
class SlowClients {
public:
    SlowClients(const std::string& ip, uint16_t port, size_t count, const std::vector<std::string>& sources,
                std::chrono::milliseconds interval = std::chrono::milliseconds(200));
    ~SlowClients();
    SlowClients(const SlowClients&) = delete;
    SlowClients& operator=(const SlowClients&) = delete;

    size_t connected() const { return fds_.size(); }
    // How many the server has not closed.
    size_t still_open() const;
    // How many the server has not closed after waiting up to timeout_s for all to be.
    size_t still_open_after(double timeout_s) const;

private:
    void trickle();

    std::vector<int> fds_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::thread thread_;
};

struct FloodResult {
    uint64_t bytes_sent = 0;
    bool closed_by_server = false;  // before max_bytes were sent
    int status = 0;                 // the status line the server sent first, if any
};

// Sends a request line and then header lines as fast as the server takes them, until the
// server closes the connection, max_bytes are sent, or timeout_s is up.
FloodResult flood_headers(const std::string& ip, uint16_t port, uint64_t max_bytes, double timeout_s);

// This process's resident set size (VmRSS), in bytes.
uint64_t rss_bytes();

}  // namespace initwatch::test
