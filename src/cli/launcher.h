// Starts a command the way a container runtime starts an entrypoint: PID 1 of new pid and
// mount namespaces, with its own /proc and its own cgroup2 directory.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace initwatch::cli {

class NamespaceLauncher {
public:
    // `cgroup2_root` "" runs without a cgroup of its own.
    NamespaceLauncher(std::vector<std::string> argv, std::string cgroup2_root);
    ~NamespaceLauncher();  // kills what is left and removes the cgroup
    NamespaceLauncher(const NamespaceLauncher&) = delete;
    NamespaceLauncher& operator=(const NamespaceLauncher&) = delete;

    // Clones the init, moves it into its cgroup and lets it exec. Returns the errno of a
    // failed exec (the init then exits 127 or 126), or 0.
    int start();

    pid_t pid() const { return pid_; }
    uint64_t cgroup_id() const { return cgroup_id_; }

    // The raw wait status once the init has exited and been reaped.
    std::optional<int> try_wait();
    int wait();
    // SIGKILL to the init: the kernel kills everything in its namespace.
    void kill_all();

private:
    void make_cgroup();
    void remove_cgroup();

    std::vector<std::string> argv_;
    std::string cgroup2_root_;
    std::string cgroup_dir_;
    uint64_t cgroup_id_ = 0;
    pid_t pid_ = -1;
    bool reaped_ = false;
};

}  // namespace initwatch::cli
