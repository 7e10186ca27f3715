#include "launch/child_process.h"

#include <fcntl.h>
#include <initwatch/error.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "launch/exec.h"
#include "launch/namespace_launcher.h"
#include "util/errno_text.h"

namespace initwatch::launch {

namespace {

using Clock = std::chrono::steady_clock;

std::atomic<pid_t> g_forward_to{0};

void forward(int sig, siginfo_t* info, void*) {
    // SI_KERNEL: the terminal's signal (Ctrl-C, hangup) to the foreground process group, of
    // which the child is a member: it has it already.
    if (info && info->si_code == SI_KERNEL) return;
    if (const pid_t pid = g_forward_to.load(); pid > 0) ::kill(pid, sig);
}

// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void child_main(char* const* argv, pid_t parent, int err_fd) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(1);      // initwatch died before the prctl
    exec_with_default_signals(argv, err_fd);  // SIGPIPE, ignored in initwatch, included
}

}  // namespace

model::ExitStatus decode_wait(int status) { return model::ExitStatus::decode(static_cast<uint32_t>(status)); }

// CI branches on the exit status, and it must tell apart, whatever the command itself
// returns: the finding (fail the build: the entrypoint leaves work behind), the command's
// own failure, and initwatch being unable to run at all. The command's status is passed
// through, so every status initwatch claims for itself is taken from the command's range;
// the claimed ones are kept few and the same as established wrappers':
//   3    a finding: initwatch's verdict, and what CI asked for.
//   125  initwatch itself failed, as `docker run`, `env`, `timeout` and `nice` use it (2,
//        initwatch's status elsewhere, is too common a command's status: `sh` uses it).
//   126, 127  CMD not executable / not found; a command's own 126/127 mean the same thing.
// A command that itself exits 3 or 125 makes initwatch exit 1: still "the command failed",
// never a verdict of initwatch's. Its real status is on stderr. Every other status N, and
// 128+S for a signal, is passed through unchanged.
int entrypoint_status(const model::ExitStatus& exit) {
    const int status = exit.shell_status();
    return status == kExitFinding || status == kExitCannotTell || status == kExitRunError
               ? kExitEntrypointFailed
               : status;
}

ChildProcess::ChildProcess(std::vector<std::string> argv) : argv_(std::move(argv)) {}

ChildProcess::~ChildProcess() {
    g_forward_to.store(0);
    if (pid_ > 0 && !status_) {
        ::kill(pid_, SIGKILL);
        wait_until(kKillWaitSeconds, [] { std::this_thread::sleep_for(std::chrono::milliseconds(10)); });
    }
}

int ChildProcess::start() {
    if (argv_.empty()) throw Error("no command to run");
    int err[2];
    if (::pipe2(err, O_CLOEXEC) != 0) throw Error("cannot create a pipe: " + util::errno_text(errno));
    std::vector<char*> cargv;
    for (auto& a : argv_) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int e = errno;
        ::close(err[0]);
        ::close(err[1]);
        throw Error("cannot fork: " + util::errno_text(e));
    }
    if (pid == 0) {
        ::close(err[0]);
        child_main(cargv.data(), parent, err[1]);
    }
    pid_ = pid;
    ::close(err[1]);
    // Ends at the exec (close-on-exec) or the child's exit, whichever comes first.
    const int exec_errno = read_exec_errno(err[0]);
    if (!exec_errno) return 0;
    wait_until(kKillWaitSeconds, [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
    return exec_errno;
}

void ChildProcess::forward_signals() {
    g_forward_to.store(pid_);
    struct sigaction sa {};
    sa.sa_sigaction = forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) ::sigaction(sig, &sa, nullptr);
}

std::optional<int> ChildProcess::try_wait() {
    if (status_ || pid_ <= 0) return status_;
    int status = 0;
    pid_t r;
    do r = ::waitpid(pid_, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid_) {
        status_ = status;
        g_forward_to.store(0);  // its pid may be reused now
    }
    return status_;
}

bool ChildProcess::wait_until(double seconds, const std::function<void()>& tick) {
    const auto until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (!try_wait()) {
        if (Clock::now() >= until) return false;
        tick();
    }
    return true;
}

std::optional<int> ChildProcess::stop(double grace_s, const std::function<void()>& tick) {
    if (pid_ <= 0 || try_wait()) return status_;
    ::kill(pid_, SIGTERM);
    if (wait_until(grace_s, tick)) return status_;
    ::kill(pid_, SIGKILL);
    wait_until(kKillWaitSeconds, tick);
    return status_;
}

}  // namespace initwatch::launch
