#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

extern char** environ;

namespace initwatch::test {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kReapAfterKill_s = 10;  // a process stuck in the kernel must not hang a test

int ms_until(Clock::time_point t) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t - Clock::now()).count();
    return left <= 0 ? 0 : left > 1000 ? 1000 : static_cast<int>(left);
}

void close_fd(int& fd) {
    if (fd >= 0) close(fd);
    fd = -1;
}

// The environment of the child: ours, with `overrides` (NAME=VALUE sets, NAME alone unsets).
std::vector<std::string> child_environment(const std::vector<std::string>& overrides) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
    for (const auto& o : overrides) {
        const size_t eq = o.find('=');
        const std::string prefix = o.substr(0, eq) + "=";
        std::vector<std::string> kept;
        for (auto& e : env)
            if (e.rfind(prefix, 0) != 0) kept.push_back(std::move(e));
        env = std::move(kept);
        if (eq != std::string::npos) env.push_back(o);
    }
    return env;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

// In the forked child: `fd` becomes `target` and stays open across exec.
void child_dup(int fd, int target) {
    if (fd == target)
        fcntl(fd, F_SETFD, 0);
    else
        dup2(fd, target);
}

// Opens what the child's stdout or stderr goes to; returns the fd the child dups, -1 to
// inherit ours. For a captured stream `parent_end` is the read end we keep.
int open_stream(const Stream& s, int& parent_end, std::string& error) {
    switch (s.to) {
        case Stream::To::inherit:
            return -1;
        case Stream::To::discard: {
            const int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
            if (fd < 0) error = std::string("/dev/null: ") + std::strerror(errno);
            return fd;
        }
        case Stream::To::file: {
            const int fd = open(s.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd < 0) error = s.path + ": " + std::strerror(errno);
            return fd;
        }
        case Stream::To::capture: {
            int p[2];
            if (pipe2(p, O_CLOEXEC) != 0) {
                error = std::string("pipe: ") + std::strerror(errno);
                return -1;
            }
            parent_end = p[0];
            fcntl(parent_end, F_SETFL, O_NONBLOCK);
            return p[1];
        }
    }
    return -1;
}

// Reads what `fd` has now into `into` (up to limit, the rest dropped); closes it at end of file.
void read_available(int& fd, std::string& into, bool& truncated, size_t limit) {
    char buf[65536];
    while (fd >= 0) {
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0) {
            const size_t room = into.size() < limit ? limit - into.size() : 0;
            into.append(buf, std::min(room, static_cast<size_t>(n)));
            if (static_cast<size_t>(n) > room) truncated = true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close_fd(fd);  // end of file, or an error that will not go away
    }
}

const char* signal_name(int sig) {
    const char* abbrev = sigabbrev_np(sig);
    return abbrev ? abbrev : "?";
}

}  // namespace

std::string Outcome::describe() const {
    std::ostringstream s;
    if (!error.empty()) s << error << "; ";
    if (timed_out) s << "timed out after " << seconds << " s, killed; ";
    if (signal)
        s << "killed by SIG" << signal_name(signal) << " (status " << status << ")";
    else
        s << "exit status " << status;
    return s.str();
}

std::string find_in_path(const std::string& name, const std::vector<std::string>& extra_dirs) {
    if (name.empty()) return "";
    if (name.find('/') != std::string::npos) return access(name.c_str(), X_OK) == 0 ? name : "";
    std::vector<std::string> dirs;
    std::istringstream path(std::getenv("PATH") ? std::getenv("PATH") : "");
    for (std::string dir; std::getline(path, dir, ':');)
        if (!dir.empty()) dirs.push_back(dir);
    dirs.insert(dirs.end(), extra_dirs.begin(), extra_dirs.end());
    for (const auto& dir : dirs) {
        const std::string candidate = dir + "/" + name;
        struct stat st {};
        if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(candidate.c_str(), X_OK) == 0)
            return candidate;
    }
    return "";
}

Process::Process(const Command& command) : command_(command), began_(Clock::now()) {
    if (command_.argv.empty()) {
        outcome_.error = "no command to run";
        return;
    }
    const std::string wanted = command_.program.empty() ? command_.argv[0] : command_.program;
    const std::string exe = find_in_path(wanted);
    if (exe.empty()) {
        outcome_.status = 127;
        outcome_.error = wanted + ": not found";
        return;
    }
    // Everything the child needs is made before fork: after it, only async-signal-safe calls.
    std::vector<std::string> argv_strings = command_.argv, env_strings = child_environment(command_.env);
    std::vector<char*> argv = c_strings(argv_strings), envp = c_strings(env_strings);

    std::string error;
    int child_in = -1;
    if (command_.input) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) {
            outcome_.error = std::string("pipe: ") + std::strerror(errno);
            return;
        }
        child_in = p[0];
        in_fd_ = p[1];
        fcntl(in_fd_, F_SETFL, O_NONBLOCK);
    } else {
        child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (child_in < 0) error = std::string("/dev/null: ") + std::strerror(errno);
    }
    int child_out = error.empty() ? open_stream(command_.out, out_fd_, error) : -1;
    int child_err = error.empty() ? open_stream(command_.err, err_fd_, error) : -1;
    int exec_report[2] = {-1, -1};  // the child writes errno here when exec fails
    if (error.empty() && pipe2(exec_report, O_CLOEXEC) != 0)
        error = std::string("pipe: ") + std::strerror(errno);

    pid_t pid = -1;
    if (error.empty()) {
        pid = fork();
        if (pid < 0) error = std::string("fork: ") + std::strerror(errno);
    }
    if (pid == 0) {
        setpgid(0, 0);
        child_dup(child_in, 0);
        if (child_out >= 0) child_dup(child_out, 1);
        if (child_err >= 0) child_dup(child_err, 2);
        // No other descriptor of ours survives exec (CLOSE_RANGE_CLOEXEC, Linux 5.11).
        if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) != 0)
            for (int fd = 3; fd < 4096; ++fd)
                if (fd != exec_report[1]) close(fd);
        execve(exe.c_str(), argv.data(), envp.data());
        const int e = errno;
        (void)!write(exec_report[1], &e, sizeof e);
        _exit(127);
    }
    for (int* fd : {&child_in, &child_out, &child_err, &exec_report[1]}) close_fd(*fd);
    if (pid < 0) {
        close_fd(exec_report[0]);
        close_fd(in_fd_);
        close_fd(out_fd_);
        close_fd(err_fd_);
        outcome_.error = error;
        return;
    }
    setpgid(pid, pid);  // as the child does: whichever runs first
    int exec_errno = 0;
    ssize_t n;
    do n = read(exec_report[0], &exec_errno, sizeof exec_errno);
    while (n < 0 && errno == EINTR);
    close_fd(exec_report[0]);
    pid_ = pid;
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
        outcome_ = wait(kReapAfterKill_s);
        outcome_.error = "cannot execute " + exe + ": " + std::strerror(exec_errno);
        pid_ = -1;
    }
}

Process::~Process() {
    if (pid_ > 0) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        const auto until = Clock::now() + std::chrono::duration<double>(kReapAfterKill_s);
        while (!reap() && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    close_fd(in_fd_);
    close_fd(out_fd_);
    close_fd(err_fd_);
}

bool Process::reap() {
    if (wait_status_ || reaped_elsewhere_ || pid_ <= 0) return true;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        wait_status_ = status;
        return true;
    }
    if (r < 0 && errno == ECHILD) {
        reaped_elsewhere_ = true;  // its status is lost
        return true;
    }
    return false;
}

void Process::pump(int timeout_ms) {
    pollfd fds[3];
    nfds_t n = 0;
    for (int fd : {out_fd_, err_fd_})
        if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    if (in_fd_ >= 0) fds[n++] = {in_fd_, POLLOUT, 0};
    if (poll(fds, n, timeout_ms) < 0 && errno != EINTR) return;
    read_available(out_fd_, outcome_.out, outcome_.out_truncated, command_.output_limit);
    read_available(err_fd_, outcome_.err, outcome_.err_truncated, command_.output_limit);
    if (in_fd_ < 0) return;
    const std::string& input = *command_.input;
    // A child that closed its stdin must not SIGPIPE us: the signal is blocked around the
    // write, and taken back if it came.
    sigset_t pipe_only, old;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    while (input_sent_ < input.size()) {
        const ssize_t w = write(in_fd_, input.data() + input_sent_, input.size() - input_sent_);
        if (w > 0) {
            input_sent_ += static_cast<size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EPIPE) {
            const timespec zero{0, 0};
            sigtimedwait(&pipe_only, nullptr, &zero);
            input_sent_ = input.size();
        }
        break;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    if (input_sent_ >= input.size()) close_fd(in_fd_);
}

void Process::drain() {
    read_available(out_fd_, outcome_.out, outcome_.out_truncated, command_.output_limit);
    read_available(err_fd_, outcome_.err, outcome_.err_truncated, command_.output_limit);
    close_fd(out_fd_);
    close_fd(err_fd_);
    close_fd(in_fd_);
}

bool Process::running() {
    if (pid_ <= 0) return false;
    pump(0);
    return !reap();
}

Outcome Process::wait(double timeout_s) {
    if (pid_ <= 0) return outcome_;
    const auto deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    for (;;) {
        const bool ended = reap();
        if (ended && (!command_.until_eof || (out_fd_ < 0 && err_fd_ < 0))) break;
        if (Clock::now() >= deadline) {
            outcome_.timed_out = true;
            kill(-pid_, SIGKILL);
            kill(pid_, SIGKILL);
            const auto until = Clock::now() + std::chrono::duration<double>(kReapAfterKill_s);
            while (!reap() && Clock::now() < until) pump(5);
            break;
        }
        // Short ticks at first: most commands of a test end within milliseconds.
        const bool young = Clock::now() - began_ < std::chrono::milliseconds(100);
        const int tick = std::min(ms_until(deadline), young ? 1 : 5);
        if (out_fd_ >= 0 || err_fd_ >= 0 || in_fd_ >= 0)
            pump(tick);
        else
            std::this_thread::sleep_for(std::chrono::milliseconds(tick));
    }
    drain();
    outcome_.seconds = std::chrono::duration<double>(Clock::now() - began_).count();
    if (reaped_elsewhere_) {
        outcome_.error = "reaped elsewhere: its status is lost";
        pid_ = -1;
        return outcome_;
    }
    if (!wait_status_) {
        outcome_.error =
            "not reaped " + std::to_string(static_cast<int>(kReapAfterKill_s)) + " s after SIGKILL";
        pid_ = -1;
        return outcome_;
    }
    const int st = *wait_status_;
    if (WIFEXITED(st)) {
        outcome_.status = WEXITSTATUS(st);
    } else if (WIFSIGNALED(st)) {
        outcome_.signal = WTERMSIG(st);
        outcome_.status = 128 + outcome_.signal;
    }
    pid_ = -1;
    return outcome_;
}

pid_t Process::release() {
    const pid_t pid = pid_;
    pid_ = -1;
    close_fd(in_fd_);
    close_fd(out_fd_);
    close_fd(err_fd_);
    return pid;
}

Outcome run(const Command& command) {
    Process p(command);
    if (!p.started()) return p.wait(0);
    return p.wait(command.timeout_s);
}

}  // namespace initwatch::test
