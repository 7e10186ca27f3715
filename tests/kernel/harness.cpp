#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace initwatch::ktest {

namespace {

// A wait status as a shell reports it: the exit status, or 128 + the signal.
int decode(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

using Clock = std::chrono::steady_clock;

Clock::time_point deadline_after(double seconds) {
    return Clock::now() +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(patience(seconds)));
}

// One fork, exec and wait of /bin/true, in seconds.
double spawn_seconds() {
    const auto start = Clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/true", "true", static_cast<char*>(nullptr));
        _exit(127);
    }
    if (pid < 0) return 0;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return std::chrono::duration<double>(Clock::now() - start).count();
}

int ms_left(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left);
}

// What a finished initwatch left: its captured output and the JSON lines of its --output
// file (removed). FAILs when it could not run or had to be killed.
Result collect(const test::Outcome& o, const std::string& what, double timeout_s, const std::string& output) {
    const std::string lines = output.empty() ? "" : read_file(output);
    if (!output.empty()) unlink(output.c_str());
    if (o.timed_out) FAIL(what << " did not finish within " << timeout_s << "s; its stderr: " << o.err);
    if (!o.error.empty()) FAIL(what << ": " << o.describe());
    Result r;
    r.status = o.status;
    r.out = o.out;
    r.err = o.err;
    r.lines = parse_json_lines(lines);
    return r;
}

}  // namespace

void require_root() {
    if (geteuid() == 0) return;
    const char* ci = std::getenv("CI");
    if (ci && std::string(ci) == "true") FAIL("kernel tests must run as root under CI=true");
    std::fprintf(stderr, "skipped: kernel tests need root\n");
    std::exit(77);
}

std::vector<nlohmann::json> Result::of_type(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& l : lines)
        if (l.value("type", "") == type) out.push_back(l);
    return out;
}

std::vector<nlohmann::json> Result::findings_with(const std::string& marker) const {
    std::vector<nlohmann::json> out;
    for (const auto& f : of_type("init_exit"))
        for (const auto& arg : f.at("init").at("argv"))
            if (arg.get<std::string>().find(marker) != std::string::npos) {
                out.push_back(f);
                break;
            }
    return out;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string proc_status_field(pid_t pid, const std::string& field) {
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
    return {};
}

long proc_status_kib(pid_t pid, const std::string& field) {
    const std::string value = proc_status_field(pid, field);
    return value.empty() ? -1 : std::stol(value);
}

void write_file(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    REQUIRE(out.good());
    REQUIRE(chmod(path.c_str(), mode) == 0);
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(line);
    return out;
}

bool path_exists(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
}

std::chrono::steady_clock::time_point deadline_in(double seconds) { return deadline_after(seconds); }

double slowdown() {
    static const double factor = [] {
        // The median of 21 spawns against what a quiet 2-core host takes (about 0.5 ms; 1 ms
        // counts as no slowdown), from 1 to 10 (qemu's emulation measures 4 to 8).
        std::vector<double> samples;
        for (int i = 0; i < 21; ++i) samples.push_back(spawn_seconds());
        std::nth_element(samples.begin(), samples.begin() + 10, samples.end());
        const double f = std::clamp(samples[10] / 0.001, 1.0, 10.0);
        if (f > 1.5)
            std::fprintf(stderr,
                         "kernel tests: this machine spawns processes %.1f times slower than a quiet host: "
                         "waits are scaled\n",
                         f);
        return f;
    }();
    return factor;
}

double patience(double seconds) { return seconds * slowdown(); }

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string random_hex(size_t digits) {
    static std::mt19937_64 rng{std::random_device{}() ^ (uint64_t(getpid()) << 32)};
    static const char* hex = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < digits; ++i) out += hex[rng() & 15];
    return out;
}

std::string shell_output(const std::string& command) { return shell_output(command, 60); }

std::optional<int> wait_exit(pid_t pid, double timeout_s) {
    const auto deadline = deadline_after(timeout_s);
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return decode(status);
        if (r < 0 && errno != EINTR) return std::nullopt;  // not our child: nothing to wait for
        if (Clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

int kill_and_reap(pid_t pid, double timeout_s) {
    kill(pid, SIGKILL);
    const auto status = wait_exit(pid, timeout_s);
    if (!status) FAIL("pid " << pid << " not reaped " << timeout_s << "s after SIGKILL");
    return *status;
}

int open_fifo(const std::string& path, int flags, double timeout_s) {
    const auto deadline = deadline_after(timeout_s);
    for (;;) {
        const int fd = open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC);
        // A write end fails with ENXIO while no reader has the FIFO open.
        if (fd >= 0 || errno != ENXIO) return fd;
        if (Clock::now() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

bool write_fifo(const std::string& path, const std::string& text, double timeout_s) {
    const int fd = open_fifo(path, O_WRONLY, timeout_s);
    if (fd < 0) return false;
    // Up to PIPE_BUF bytes go in at once, even without blocking.
    const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    close(fd);
    return ok;
}

std::optional<std::string> read_until_eof(int fd, double timeout_s) {
    const auto deadline = deadline_after(timeout_s);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    std::string out;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int ready = poll(&p, 1, ms_left(deadline));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return std::nullopt;
        char buf[4096];
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n == 0) return out;
        if (n > 0)
            out.append(buf, static_cast<size_t>(n));
        else if (errno != EAGAIN && errno != EINTR)
            return out;
    }
}

int shell(const std::string& command, double timeout_s) {
    test::Command c;
    c.argv = {"/bin/sh", "-c", command};
    c.out = c.err = test::Stream::inherited();
    c.timeout_s = patience(timeout_s);
    const auto o = test::run(c);
    if (o.timed_out) FAIL("`" << command << "` did not finish within " << c.timeout_s << "s");
    if (!o.error.empty()) FAIL("`" << command << "`: " << o.describe());
    return o.status;
}

std::string shell_output(const std::string& command, double timeout_s) {
    test::Command c;
    c.argv = {"/bin/sh", "-c", command};
    c.err = test::Stream::inherited();
    c.until_eof = true;  // a background process that keeps stdout open counts as running
    c.timeout_s = patience(timeout_s);
    const auto o = test::run(c);
    if (o.timed_out) FAIL("`" << command << "` did not finish within " << c.timeout_s << "s");
    if (!o.error.empty()) FAIL("`" << command << "`: " << o.describe());
    return o.out;
}

std::vector<nlohmann::json> parse_json_lines(const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));  // throws: invalid JSON fails
    return out;
}

std::string temp_path(const std::string& stem) {
    static int n = 0;
    return kTempPrefix + std::to_string(getpid()) + "-" + std::to_string(++n) + "-" + stem;
}

std::string test_script(const std::string& name) { return std::string(SCRIPT_DIR) + "/" + name; }

Result run_raw(std::vector<std::string> argv, double timeout_s, std::vector<std::string> env,
               const std::string& program) {
    argv.insert(argv.begin(), program);
    test::Command c;
    c.argv = std::move(argv);
    c.env = std::move(env);
    c.timeout_s = patience(timeout_s);
    return collect(test::run(c), program, c.timeout_s, "");
}

Result run_initwatch(const std::string& subcommand, std::vector<std::string> args, double timeout_s,
                     std::vector<std::string> env) {
    require_root();
    const std::string output = temp_path("json");
    test::Command c;
    c.argv = {INITWATCH_BIN, subcommand, "--json", "--output", output};
    c.argv.insert(c.argv.end(), args.begin(), args.end());
    c.env = std::move(env);
    c.timeout_s = patience(timeout_s);
    Result r = collect(test::run(c), "initwatch", c.timeout_s, output);
    INFO("stderr: " << r.err);
    return r;
}

Background::Background(std::vector<std::string> argv, std::string output_file, const std::string& program,
                       std::vector<std::string> env)
    : out_path_(temp_path("bg-out")), err_path_(temp_path("bg-err")), output_file_(std::move(output_file)) {
    argv.insert(argv.begin(), program);
    test::Command c;
    c.argv = std::move(argv);
    c.env = std::move(env);
    c.out = test::Stream::file(out_path_);
    c.err = test::Stream::file(err_path_);
    process_ = std::make_unique<test::Process>(c);
    pid_ = process_->pid();
    if (!process_->started()) FAIL(program << ": " << process_->wait(0).describe());
}

// The process, if still running, is killed with its group by ~Process (bounded, no FAIL: this
// may run while a failure unwinds).
Background::~Background() {
    process_.reset();
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
}

bool Background::wait_for_finding(const std::string& marker, double timeout_s) {
    return wait_for_lines(
        [&](const std::vector<nlohmann::json>& lines) {
            Result partial;
            partial.lines = lines;
            return !partial.findings_with(marker).empty();
        },
        timeout_s);
}

std::string Background::output_so_far() const { return read_file(out_path_) + read_file(err_path_); }

bool Background::wait_for_output(const std::string& text, double timeout_s) {
    const auto deadline = deadline_after(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        if (output_so_far().find(text) != std::string::npos) return true;
        if (!process_->running()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

uint16_t Background::metrics_port() const {
    const std::string log = output_so_far();
    const auto at = log.find("on port ");
    return at == std::string::npos ? 0 : static_cast<uint16_t>(std::stoi(log.substr(at + 8)));
}

std::vector<nlohmann::json> Background::lines_so_far() const {
    // Whole lines only: initwatch may be in the middle of writing a long one.
    const std::string text = read_file(output_file_);
    const size_t end = text.rfind('\n');
    return end == std::string::npos ? std::vector<nlohmann::json>{}
                                    : parse_json_lines(text.substr(0, end + 1));
}

bool Background::wait_for_lines(const std::function<bool(const std::vector<nlohmann::json>&)>& done,
                                double timeout_s) {
    const auto deadline = deadline_after(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        if (done(lines_so_far())) return true;
        if (!process_->running()) return done(lines_so_far());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

Result Background::finish(double timeout_s) {
    test::Outcome o = process_->wait(patience(timeout_s));
    o.out = read_file(out_path_);
    o.err = read_file(err_path_);
    unlink(out_path_.c_str());
    unlink(err_path_.c_str());
    return collect(o, "initwatch", timeout_s, output_file_);
}

HostWatch::HostWatch(const std::vector<std::string>& extra_args) : output_(temp_path("host-watch.json")) {
    std::vector<std::string> args{"watch",      "--json", "--output",    output_,
                                  "--duration", "90",     "--log-level", "info"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    bg_ = std::make_unique<Background>(args, output_);
    REQUIRE(bg_->wait_for_output("probes attached", 30));
}

HostWatch::~HostWatch() {
    if (stopped_ || !bg_ || bg_->pid() <= 0) return;
    kill(bg_->pid(), SIGKILL);
    try {
        bg_->finish(10);
    } catch (...) {
    }
}

bool HostWatch::wait_ready(double timeout_s) { return bg_->wait_for_output("snapshot:", timeout_s); }

bool HostWatch::wait_for(const std::function<bool(const std::vector<nlohmann::json>&)>& done,
                         double timeout_s) {
    return bg_->wait_for_lines(done, timeout_s);
}

bool HostWatch::wait_for(const std::string& type, const std::string& cgroup, size_t n, double timeout_s) {
    return wait_for(
        [&](const std::vector<nlohmann::json>& lines) {
            return lines_of_type(lines, type, cgroup).size() >= n;
        },
        timeout_s);
}

std::vector<nlohmann::json> HostWatch::stop() {
    kill(bg_->pid(), SIGINT);
    stopped_ = true;
    const Result r = bg_->finish(15);
    INFO("initwatch watch stderr: " << r.err);
    CHECK(r.status == 0);
    return r.lines;
}

nlohmann::json field(const nlohmann::json& j, const std::string& key) {
    if (!j.is_object() || !j.contains(key)) return nlohmann::json("<missing " + key + ">");
    return j.at(key);
}

std::string dump_lines(const std::vector<nlohmann::json>& lines) {
    std::string out = std::to_string(lines.size()) + " line(s):";
    for (const auto& l : lines) out += "\n" + l.dump();
    return out;
}

std::vector<nlohmann::json> lines_of_type(const std::vector<nlohmann::json>& lines, const std::string& type,
                                          const std::string& cgroup) {
    std::vector<nlohmann::json> out;
    for (const auto& l : lines) {
        if (l.value("type", "") != type) continue;
        const auto c = l.find("container");
        const bool in = cgroup.empty() || (c != l.end() && c->is_object() &&
                                           c->value("cgroup_path", nlohmann::json()) == cgroup);
        if (in) out.push_back(l);
    }
    return out;
}

}  // namespace initwatch::ktest
