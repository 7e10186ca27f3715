#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace initwatch::ktest {

namespace {

int decode(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            const std::string& out_path, const std::string& err_path) {
    const pid_t pid = fork();
    if (pid != 0) return pid;
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    if (!freopen("/dev/null", "r", stdin) || !freopen(out_path.c_str(), "w", stdout) ||
        !freopen(err_path.c_str(), "w", stderr))
        _exit(126);
    std::vector<char*> cargv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    execv(cargv[0], cargv.data());
    _exit(127);
}

using Clock = std::chrono::steady_clock;

Clock::time_point deadline_after(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

int ms_left(Clock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(left);
}

// Waits for pid, killing it (SIGKILL) after timeout_s.
int wait_with_timeout(pid_t pid, double timeout_s) {
    if (const auto status = wait_exit(pid, timeout_s)) return *status;
    kill_and_reap(pid);
    FAIL("initwatch did not finish within " << timeout_s << "s");
    return -1;
}

// A child in a process group of its own running `sh -c command`, stdout to out_fd (-1:
// inherited), stdin from /dev/null.
pid_t spawn_shell(const std::string& command, int out_fd) {
    const pid_t pid = fork();
    if (pid != 0) return pid;
    setpgid(0, 0);
    const int in = open("/dev/null", O_RDONLY);
    if (in < 0) _exit(126);
    dup2(in, 0);
    if (out_fd >= 0) dup2(out_fd, 1);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
}

void kill_group_and_reap(pid_t pid) {
    kill(-pid, SIGKILL);
    kill_and_reap(pid);
}

Result collect(int status, const std::string& out, const std::string& err, const std::string& output) {
    Result r;
    r.status = status;
    r.out = read_file(out);
    r.err = read_file(err);
    if (!output.empty()) r.lines = parse_json_lines(read_file(output));
    for (const auto& p : {out, err, output})
        if (!p.empty()) unlink(p.c_str());
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

long proc_status_kib(pid_t pid, const std::string& field) {
    std::istringstream status(read_file("/proc/" + std::to_string(pid) + "/status"));
    std::string line;
    while (std::getline(status, line))
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    return -1;
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
        if (n > 0) out.append(buf, static_cast<size_t>(n));
        else if (errno != EAGAIN && errno != EINTR) return out;
    }
}

int shell(const std::string& command, double timeout_s) {
    const pid_t pid = spawn_shell(command, -1);
    REQUIRE(pid > 0);
    if (const auto status = wait_exit(pid, timeout_s)) return *status;
    kill_group_and_reap(pid);
    FAIL("`" << command << "` did not finish within " << timeout_s << "s");
    return -1;
}

std::string shell_output(const std::string& command, double timeout_s) {
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    const pid_t pid = spawn_shell(command, p[1]);
    close(p[1]);
    REQUIRE(pid > 0);
    // Until end of file: a background process that keeps stdout open counts as running.
    const auto out = read_until_eof(p[0], timeout_s);
    close(p[0]);
    if (!out) {
        kill_group_and_reap(pid);
        FAIL("`" << command << "` did not finish within " << timeout_s << "s");
        return "";
    }
    if (!wait_exit(pid, 10)) kill_group_and_reap(pid);
    return *out;
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
    return "/tmp/initwatch-ktest-" + std::to_string(getpid()) + "-" + std::to_string(++n) + "-" + stem;
}

std::string scenario(const std::string& name) { return std::string(SCENARIO_DIR) + "/" + name; }

Result run_raw(std::vector<std::string> argv, double timeout_s, std::vector<std::string> env,
               const std::string& program) {
    const std::string out = temp_path("out"), err = temp_path("err");
    argv.insert(argv.begin(), program);
    const int status = wait_with_timeout(spawn(argv, env, out, err), timeout_s);
    return collect(status, out, err, "");
}

Result run_initwatch(const std::string& subcommand, std::vector<std::string> args, double timeout_s,
                     std::vector<std::string> env) {
    require_root();
    const std::string out = temp_path("out"), err = temp_path("err"), output = temp_path("json");
    std::vector<std::string> argv{INITWATCH_BIN, subcommand, "--json", "--output", output};
    argv.insert(argv.end(), args.begin(), args.end());
    const int status = wait_with_timeout(spawn(argv, env, out, err), timeout_s);
    Result r = collect(status, out, err, output);
    INFO("stderr: " << r.err);
    return r;
}

Background::Background(std::vector<std::string> argv, std::string output_file, const std::string& program)
    : out_path_(temp_path("bg-out")), err_path_(temp_path("bg-err")), output_file_(std::move(output_file)) {
    argv.insert(argv.begin(), program);
    pid_ = spawn(argv, {}, out_path_, err_path_);
}

Background::~Background() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        wait_exit(pid_, 10);  // no FAIL in a destructor: it may run while a failure unwinds
    }
}

bool Background::wait_for_finding(const std::string& marker, double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        Result partial;
        std::istringstream in(read_file(output_file_));
        for (std::string line; std::getline(in, line);)
            if (!line.empty()) partial.lines.push_back(nlohmann::json::parse(line, nullptr, false));
        if (!partial.findings_with(marker).empty()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

std::string Background::output_so_far() const { return read_file(out_path_) + read_file(err_path_); }

bool Background::wait_for_output(const std::string& text, double timeout_s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (std::chrono::steady_clock::now() < deadline) {
        if (output_so_far().find(text) != std::string::npos) return true;
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

Result Background::finish(double timeout_s) {
    const int status = wait_with_timeout(pid_, timeout_s);
    pid_ = -1;
    return collect(status, out_path_, err_path_, output_file_);
}

}  // namespace initwatch::ktest
