#include "launch/namespace_launcher.h"

#include <dirent.h>
#include <fcntl.h>
#include <initwatch/error.h>
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
#include <sstream>
#include <thread>

#include "launch/exec.h"
#include "util/errno_text.h"

namespace initwatch::launch {

namespace {

using Clock = std::chrono::steady_clock;

using util::errno_text;

Clock::time_point deadline_in(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void pause_briefly() { std::this_thread::sleep_for(std::chrono::milliseconds(10)); }

std::string read_small_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// SIGKILL to `pid` only if it is still in `cgroup` (as /proc/PID/cgroup names it): through
// a pidfd, so that a pid reused between the check and the kill is never hit.
void kill_if_member(pid_t pid, const std::string& cgroup) {
    const long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0) {
        if (errno == ENOSYS) ::kill(pid, SIGKILL);  // before 5.3: the small race is accepted
        return;
    }
    if (read_small_file("/proc/" + std::to_string(pid) + "/cgroup").find("0::" + cgroup + "\n") !=
        std::string::npos)
        ::syscall(SYS_pidfd_send_signal, static_cast<int>(fd), SIGKILL, nullptr, 0);
    ::close(static_cast<int>(fd));
}

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
    exec_with_default_signals(argv, err_fd);
}

// A run killed with SIGKILL cannot remove its directory. The next run removes those of
// runs that are gone: empty (rmdir fails on a populated cgroup) and named after a pid that
// is no initwatch now (a live one may be about to move its init in).
void remove_stale_run_cgroups(const std::string& parent) {
    DIR* dir = ::opendir(parent.c_str());
    if (!dir) return;
    const std::string self = read_small_file("/proc/self/comm");  // this binary's name
    while (const dirent* entry = ::readdir(dir)) {
        const std::string name = entry->d_name;
        if (name.rfind("run-", 0) != 0) continue;
        const std::string comm = read_small_file("/proc/" + name.substr(4) + "/comm");
        if (comm == self) continue;
        if (::rmdir((parent + "/" + name).c_str()) == 0)
            spdlog::info("removed {}/{}: its run is gone", parent, name);
    }
    ::closedir(dir);
}

}  // namespace

NamespaceLauncher::NamespaceLauncher(std::vector<std::string> argv, std::string cgroup2_root)
    : argv_(std::move(argv)), cgroup2_root_(std::move(cgroup2_root)) {}

NamespaceLauncher::~NamespaceLauncher() {
    if (pid_ > 0 && !reaped_ && !killed_) kill_all();
    remove_cgroup();
}

// Concurrent runs share the parent `initwatch` directory: each one removes it when it is
// done, which fails (EBUSY) while another run's directory is in it. The race left is a
// parent removed between our mkdir of it and of our own directory: that mkdir then fails
// with ENOENT, and we create the parent again.
void NamespaceLauncher::make_cgroup() {
    if (cgroup2_root_.empty()) return;
    const std::string parent = cgroup2_root_ + "/initwatch";
    const std::string dir = parent + "/run-" + std::to_string(::getpid());
    remove_stale_run_cgroups(parent);
    for (int attempt = 0;; ++attempt) {
        if (::mkdir(parent.c_str(), 0755) != 0 && errno != EEXIST) {
            spdlog::warn("cannot create {}: {}; running without a cgroup of its own", parent,
                         errno_text(errno));
            return;
        }
        if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) break;
        if (errno != ENOENT || attempt == 100) {
            spdlog::warn("cannot create {}: {}; running without a cgroup of its own", dir, errno_text(errno));
            return;
        }
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

    // Ends at the exec (close-on-exec) or the child's exit, whichever comes first.
    return read_exec_errno(err[0]);
}

std::optional<int> NamespaceLauncher::try_wait() {
    if (reaped_ || pid_ <= 0) return status_;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        status_ = status;
    } else if (r < 0 && errno == ECHILD) {
        reaped_ = true;  // not ours any more: nothing to wait for
    }
    return status_;
}

std::optional<int> NamespaceLauncher::wait_for(double timeout_s) {
    const auto until = deadline_in(timeout_s);
    while (!try_wait() && !reaped_ && Clock::now() < until) pause_briefly();
    return status_;
}

std::optional<int> NamespaceLauncher::stop(double grace_s, const std::function<bool()>& hurry) {
    if (pid_ <= 0 || reaped_) return kill_all();
    // A namespace's init gets the SIGTERM only if it handles it: a PID 1 without a handler
    // (most scripts) ignores it, as in a container, and waits out the grace.
    ::kill(pid_, SIGTERM);
    const auto until = deadline_in(grace_s);
    while (!try_wait() && !reaped_ && Clock::now() < until && !hurry()) pause_briefly();
    return kill_all();
}

std::optional<int> NamespaceLauncher::kill_all() {
    const auto until = deadline_in(kKillWaitSeconds);
    killed_ = true;
    if (pid_ > 0 && !reaped_) ::kill(pid_, SIGKILL);  // the kernel kills the rest of the namespace
    const bool cgroup_kill = !cgroup_dir_.empty() && write_file(cgroup_dir_ + "/cgroup.kill", "1");  // 5.14+
    for (;;) {
        try_wait();
        const bool empty = cgroup_empty();
        if ((reaped_ || pid_ <= 0) && empty) break;
        if (Clock::now() >= until) {
            if (!reaped_ && pid_ > 0)
                spdlog::warn("init (pid {}) not reaped {}s after SIGKILL; leaving it", pid_,
                             kKillWaitSeconds);
            else
                spdlog::warn("{} still has processes {}s after SIGKILL", cgroup_dir_, kKillWaitSeconds);
            break;
        }
        // Without cgroup.kill, what was forked meanwhile is killed on the next round.
        if (!cgroup_kill && !empty) kill_cgroup_members();
        pause_briefly();
    }
    return status_;
}

void NamespaceLauncher::kill_cgroup_members() {
    if (cgroup_dir_.empty()) return;
    std::istringstream procs(read_small_file(cgroup_dir_ + "/cgroup.procs"));
    const std::string relative = cgroup_dir_.substr(cgroup2_root_.size());
    for (pid_t pid; procs >> pid;) kill_if_member(pid, relative);
}

bool NamespaceLauncher::cgroup_empty() const {
    if (cgroup_dir_.empty()) return true;
    std::istringstream procs(read_small_file(cgroup_dir_ + "/cgroup.procs"));
    pid_t pid;
    return !(procs >> pid);
}

void NamespaceLauncher::remove_cgroup() {
    if (cgroup_dir_.empty()) return;
    const auto until = deadline_in(kKillWaitSeconds);
    for (;;) {
        if (::rmdir(cgroup_dir_.c_str()) == 0 || errno == ENOENT) break;
        if (errno != EBUSY || Clock::now() >= until) {
            spdlog::warn("cannot remove {}: {}", cgroup_dir_, errno_text(errno));
            break;
        }
        kill_cgroup_members();
        pause_briefly();
    }
    // Fails (EBUSY) while another run's directory is in it: that run removes it later.
    ::rmdir((cgroup2_root_ + "/initwatch").c_str());
    cgroup_dir_.clear();
}

}  // namespace initwatch::launch
