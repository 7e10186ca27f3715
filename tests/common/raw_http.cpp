#include "raw_http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <sstream>

namespace initwatch::test {

namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point deadline_after(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

int ms_until(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<long long>(0, left));
}

// IPv4 or IPv6 literal to a socket address; false if it is neither.
bool to_sockaddr(const std::string& ip, uint16_t port, sockaddr_storage& out, socklen_t& len) {
    out = {};
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        len = sizeof *v4;
        return true;
    }
    if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        len = sizeof *v6;
        return true;
    }
    return false;
}

// Sends all of data before the deadline; false if the peer closed or time ran out.
bool send_all(int fd, const std::string& data, Clock::time_point deadline) {
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
        pollfd p{fd, POLLOUT, 0};
        if (poll(&p, 1, ms_until(deadline)) <= 0) return false;
    }
    return true;
}

void parse_reply(const std::string& raw, HttpReply& reply) {
    const size_t head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return;
    std::istringstream head(raw.substr(0, head_end));
    std::string line;
    std::getline(head, line);
    const size_t space = line.find(' ');
    if (space == std::string::npos) return;
    reply.status = std::atoi(line.c_str() + space + 1);
    while (std::getline(head, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        const size_t value = line.find_first_not_of(' ', colon + 1);
        reply.headers[name] = value == std::string::npos ? "" : line.substr(value);
    }
    reply.body = raw.substr(head_end + 4);
}

}  // namespace

std::string HttpReply::header(const std::string& lower_case_name) const {
    const auto it = headers.find(lower_case_name);
    return it == headers.end() ? "" : it->second;
}

int tcp_connect(const std::string& ip, uint16_t port, double timeout_s, const std::string& source) {
    sockaddr_storage to{};
    socklen_t to_len = 0;
    if (!to_sockaddr(ip, port, to, to_len)) return -1;
    const int fd = socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (!source.empty()) {
        sockaddr_storage from{};
        socklen_t from_len = 0;
        if (!to_sockaddr(source, 0, from, from_len) ||
            bind(fd, reinterpret_cast<sockaddr*>(&from), from_len) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, reinterpret_cast<sockaddr*>(&to), to_len) != 0) {
        pollfd p{fd, POLLOUT, 0};
        int error = 0;
        socklen_t len = sizeof error;
        if (errno != EINPROGRESS || poll(&p, 1, static_cast<int>(timeout_s * 1000)) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

HttpReply http_request(const std::string& ip, uint16_t port, const std::string& method,
                       const std::string& path, double timeout_s, const std::string& source) {
    HttpReply reply;
    const auto start = Clock::now();
    const auto deadline = deadline_after(timeout_s);
    const int fd = tcp_connect(ip, port, timeout_s, source);
    if (fd < 0) return reply;
    const std::string request =
        method + " " + path + " HTTP/1.1\r\nHost: " + ip + "\r\nConnection: close\r\n\r\n";
    std::string raw;
    bool complete = false;
    if (send_all(fd, request, deadline)) {
        char buf[16 * 1024];
        while (!complete) {
            pollfd p{fd, POLLIN, 0};
            if (poll(&p, 1, ms_until(deadline)) <= 0) break;
            const ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0)
                raw.append(buf, static_cast<size_t>(n));
            else if (n == 0)
                complete = true;
            else if (errno != EAGAIN && errno != EINTR)
                break;
        }
    }
    close(fd);
    if (complete) parse_reply(raw, reply);
    reply.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return reply;
}

bool closed_by_peer(int fd, double timeout_s) {
    const auto deadline = deadline_after(timeout_s);
    char buf[4096];
    for (;;) {
        const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;
        if (n > 0) continue;
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, ms_until(deadline)) <= 0) return false;
    }
}

bool still_open(int fd) {
    char c;
    const ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

SlowClients::SlowClients(const std::string& ip, uint16_t port, size_t count,
                         const std::vector<std::string>& sources, std::chrono::milliseconds interval)
    : interval_(interval) {
    for (size_t i = 0; i < count; ++i) {
        const int fd = tcp_connect(ip, port, 2, sources.empty() ? "" : sources[i % sources.size()]);
        if (fd >= 0) fds_.push_back(fd);
    }
    thread_ = std::thread([this] { trickle(); });
}

SlowClients::~SlowClients() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    for (const int fd : fds_) close(fd);
}

size_t SlowClients::still_open() const {
    return static_cast<size_t>(
        std::count_if(fds_.begin(), fds_.end(), [](int fd) { return test::still_open(fd); }));
}

size_t SlowClients::still_open_after(double timeout_s) const {
    const auto deadline = deadline_after(timeout_s);
    size_t open = still_open();
    while (open > 0 && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        open = still_open();
    }
    return open;
}

void SlowClients::trickle() {
    // A request line that would be done only after minutes of this: "GET /aaaa...".
    const std::string start = "GET /";
    // Bounded even if the owner forgets to stop it: 5 minutes of ticks.
    const long max_ticks = 300'000 / std::max<long>(1, static_cast<long>(interval_.count()));
    std::unique_lock<std::mutex> lock(mutex_);
    for (long tick = 0; tick < max_ticks && !stop_; ++tick) {
        const char byte = tick < static_cast<long>(start.size()) ? start[static_cast<size_t>(tick)] : 'a';
        for (const int fd : fds_) send(fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        wake_.wait_for(lock, interval_, [this] { return stop_; });
    }
}

FloodResult flood_headers(const std::string& ip, uint16_t port, uint64_t max_bytes, double timeout_s) {
    FloodResult result;
    const auto deadline = deadline_after(timeout_s);
    const int fd = tcp_connect(ip, port, timeout_s);
    if (fd < 0) return result;
    std::string chunk;
    for (int i = 0; chunk.size() < 64 * 1024; ++i)
        chunk += "X-Flood-" + std::to_string(i) + ": " + std::string(100, 'f') + "\r\n";
    std::string pending = "GET /healthz HTTP/1.1\r\nHost: " + ip + "\r\n";
    std::string reply;
    char buf[4096];
    while (result.bytes_sent < max_bytes && Clock::now() < deadline) {
        pollfd p{fd, POLLIN | POLLOUT, 0};
        if (poll(&p, 1, ms_until(deadline)) <= 0) break;
        if (p.revents & POLLIN) {
            const ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n > 0) {
                reply.append(buf, static_cast<size_t>(std::min<ssize_t>(n, 64)));
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                result.closed_by_server = true;
                break;
            }
        }
        if (p.revents & (POLLERR | POLLHUP)) {
            result.closed_by_server = true;
            break;
        }
        if (p.revents & POLLOUT) {
            if (pending.empty()) pending = chunk;
            const ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
            if (n > 0) {
                result.bytes_sent += static_cast<uint64_t>(n);
                pending.erase(0, static_cast<size_t>(n));
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                result.closed_by_server = true;
                break;
            }
        }
    }
    close(fd);
    if (reply.compare(0, 5, "HTTP/") == 0 && reply.find(' ') != std::string::npos)
        result.status = std::atoi(reply.c_str() + reply.find(' ') + 1);
    return result;
}

uint64_t rss_bytes() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
    return 0;
}

}  // namespace initwatch::test
