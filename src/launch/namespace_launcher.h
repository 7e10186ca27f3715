// Starts a command the way a container runtime starts an entrypoint: PID 1 of new pid and
// mount namespaces, with its own /proc and its own cgroup2 directory; and stops it the way
// a runtime stops a container: SIGTERM, a grace period, then SIGKILL to whatever is left.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace initwatch::launch {

// How long the kill phase of a stop may take: the init reaped and its cgroup empty. A
// process the kernel cannot kill in this time (stuck in the kernel, or a zombie whose
// parent outside the namespace does not reap it) is left behind with a warning, rather
// than initwatch hanging.
inline constexpr double kKillWaitSeconds = 5;

class NamespaceLauncher {
public:
    // `cgroup2_root` "" runs without a cgroup of its own.
    NamespaceLauncher(std::vector<std::string> argv, std::string cgroup2_root);
    ~NamespaceLauncher();  // kills what is left and removes the cgroup, in bounded time
    NamespaceLauncher(const NamespaceLauncher&) = delete;
    NamespaceLauncher& operator=(const NamespaceLauncher&) = delete;

    // Clones the init, moves it into its cgroup and lets it exec. Returns the errno of a
    // failed exec (the init then exits 127 or 126), or 0.
    int start();

    pid_t pid() const { return pid_; }
    uint64_t cgroup_id() const { return cgroup_id_; }
    const std::string& cgroup_dir() const { return cgroup_dir_; }

    // The raw wait status once the init has exited and been reaped.
    std::optional<int> try_wait();
    // Waits at most timeout_s for the init to be reaped.
    std::optional<int> wait_for(double timeout_s);

    // SIGTERM to the init (its namespace dies with it); waits up to grace_s for it, cut
    // short as soon as `hurry` returns true; then kill_all(). The init's wait status if it
    // was reaped within the bounds.
    std::optional<int> stop(double grace_s, const std::function<bool()>& hurry);
    // SIGKILL to the init and to everything in its cgroup; waits up to kKillWaitSeconds
    // for the init to be reaped and the cgroup to empty.
    std::optional<int> kill_all();

private:
    void make_cgroup();
    void kill_cgroup_members();
    bool cgroup_empty() const;
    void remove_cgroup();

    std::vector<std::string> argv_;
    std::string cgroup2_root_;
    std::string cgroup_dir_;
    uint64_t cgroup_id_ = 0;
    pid_t pid_ = -1;
    bool reaped_ = false;
    bool killed_ = false;  // kill_all() has had its time: the destructor does not wait again
    std::optional<int> status_;
};

}  // namespace initwatch::launch
