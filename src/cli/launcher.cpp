#include "cli/launcher.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <initwatch/error.h>

namespace initwatch::cli {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

bool write_file(const std::string& path, const std::string& value) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    ::close(fd);
    return ok;
}

// In the child, between clone and exec: async-signal-safe calls only.
[[noreturn]] void child_main(char* const* argv, int go_fd, int err_fd) {
    char go;
    if (::read(go_fd, &go, 1) != 1) _exit(1);  // initwatch went away
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // Our own /proc, in mounts no one else sees.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
        const int err = errno;
        (void)!::write(err_fd, &err, sizeof(err));
        _exit(126);
    }
    // Leave nothing of initwatch's signal setup to the entrypoint.
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execvp(argv[0], argv);
    const int err = errno;
    (void)!::write(err_fd, &err, sizeof(err));
    _exit(err == ENOENT ? 127 : 126);
}

}  // namespace

NamespaceLauncher::NamespaceLauncher(std::vector<std::string> argv, std::string cgroup2_root)
    : argv_(std::move(argv)), cgroup2_root_(std::move(cgroup2_root)) {}

NamespaceLauncher::~NamespaceLauncher() {
    if (pid_ > 0 && !reaped_) {
        kill_all();
        wait();
    }
    remove_cgroup();
}

void NamespaceLauncher::make_cgroup() {
    if (cgroup2_root_.empty()) return;
    const std::string parent = cgroup2_root_ + "/initwatch";
    if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
        spdlog::warn("cannot create {}: {}; running without a cgroup of its own", parent, errno_text(errno));
        return;
    }
    const std::string dir = parent + "/run-" + std::to_string(::getpid());
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
        spdlog::warn("cannot create {}: {}; running without a cgroup of its own", dir, errno_text(errno));
        return;
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0) cgroup_id_ = st.st_ino;
    cgroup_dir_ = dir;
}

int NamespaceLauncher::start() {
    make_cgroup();
    int go[2], err[2];
    if (::pipe2(go, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
        throw Error("cannot create pipes: " + errno_text(errno));

    std::vector<char*> cargv;
    for (auto& a : argv_) cargv.push_back(a.data());
    cargv.push_back(nullptr);

    // Like fork(), in new pid and mount namespaces: the child is PID 1 of its namespace.
    const long pid = ::syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWNS | SIGCHLD, nullptr, nullptr, nullptr, 0);
    if (pid < 0) throw Error("cannot create a pid namespace: " + errno_text(errno));
    if (pid == 0) {
        ::close(go[1]);
        ::close(err[0]);
        child_main(cargv.data(), go[0], err[1]);
    }
    pid_ = static_cast<pid_t>(pid);
    ::close(go[0]);
    ::close(err[1]);

    if (!cgroup_dir_.empty() && !write_file(cgroup_dir_ + "/cgroup.procs", std::to_string(pid_)))
        spdlog::warn("cannot move the init into {}: {}", cgroup_dir_, errno_text(errno));
    const char g = 'g';
    (void)!::write(go[1], &g, 1);
    ::close(go[1]);

    int exec_errno = 0;
    ssize_t n;
    do n = ::read(err[0], &exec_errno, sizeof(exec_errno));
    while (n < 0 && errno == EINTR);
    ::close(err[0]);
    return n == sizeof(exec_errno) ? exec_errno : 0;
}

std::optional<int> NamespaceLauncher::try_wait() {
    if (reaped_ || pid_ <= 0) return std::nullopt;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r != pid_) return std::nullopt;
    reaped_ = true;
    return status;
}

int NamespaceLauncher::wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
}

void NamespaceLauncher::kill_all() {
    if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);
}

// The namespace's other processes die right after its init; wait for the cgroup to empty.
void NamespaceLauncher::remove_cgroup() {
    if (cgroup_dir_.empty()) return;
    for (int i = 0; i < 200; ++i) {
        if (::rmdir(cgroup_dir_.c_str()) == 0 || errno == ENOENT) break;
        if (errno != EBUSY) {
            spdlog::warn("cannot remove {}: {}", cgroup_dir_, errno_text(errno));
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::rmdir((cgroup2_root_ + "/initwatch").c_str());  // fails while other runs use it: fine
    cgroup_dir_.clear();
}

}  // namespace initwatch::cli
