// Real container runtimes for the kernel tests: runc bundles, a private containerd daemon, and
// a fake kubelet log layout. Every fixture is RAII: its destructor stops and removes what it
// started (containers, runc state, the daemon and its shims, the cgroup directories left in
// every v1 and v2 hierarchy, temp directories), also when the test fails. What a fixture
// creates is first written to a record under /tmp/initwatch-ktest-leftovers/, removed once
// the cleanup has verifiably worked; every fixture starts by sweeping the records of test
// processes that died before cleaning up (a crash, a ctest timeout).
//
// The runc and containerd fixtures make the test process a child subreaper (as containerd's
// shim is for its containers) and reap container inits and shims at once: this machine's
// PID 1 reaps orphans only about once a second, which made every `runc delete -f` wait.
// INITWATCH_KTEST_TRACE=1 prints every runtime command with its duration on stderr.
//
// See /work/shared/RUNTIMES.md for the recipes (runc run -d with stdio redirected, busybox
// rootfs, Kubernetes cgroup layouts through linux.cgroupsPath, containerd with its own config).
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace initwatch::ktest {

// The programs a test needs (runc, containerd, ctr, containerd-shim-runc-v2, busybox):
// missing ones fail the test under CI=true and skip it (exit 77) otherwise. "busybox" must
// also be statically linked (Debian's busybox-static): it is copied into container rootfs.
void require_programs(const std::vector<std::string>& names);

// A program's full path (PATH, then /usr/sbin and /sbin); "" when missing.
std::string find_program(const std::string& name);

struct CmdResult {
    int status = -1;     // exit status, 128 + signal, -1 when it could not run
    std::string output;  // stdout and stderr together
};
// Runs argv (argv[0] looked up like find_program) with stdin from /dev/null and stdout and
// stderr to a file, never to our pipes: a detached container inherits them. That file is
// `output_path` when given (kept), a temp file otherwise. SIGKILL after timeout_s.
CmdResult run_cmd(std::vector<std::string> argv, double timeout_s = 30, const std::string& output_path = "");

std::string random_hex(size_t digits);
std::string random_container_id();  // 64 lowercase hex digits, like containerd's
std::string random_pod_uid();       // 8-4-4-4-12 lowercase hex, like a Kubernetes UID

// Kubernetes cgroup paths (relative to the cgroup roots), as kubelet asks runtimes for them.
std::string kubepods_cgroupfs_path(const std::string& qos, const std::string& pod_uid,
                                   const std::string& container_id);
std::string kubepods_systemd_path(const std::string& qos, const std::string& pod_uid,
                                  const std::string& container_id);

// Mount points of every cgroup hierarchy (v1 controllers and cgroup2) from /proc/self/mountinfo.
std::vector<std::string> cgroup_mounts();
std::string cgroup2_mount();
// The cgroup v2 id of a path: the inode of its directory on the cgroup2 mount; 0 if absent.
uint64_t cgroup2_id(const std::string& path);
// Hierarchy directories (absolute) where `path` exists.
std::vector<std::string> cgroup_dirs_present(const std::string& path);
// In every hierarchy: kills the processes of `path` and below, removes those directories,
// then each empty parent directory up to the root. Returns what is still there.
std::vector<std::string> remove_cgroup(const std::string& path);

// Writes a busybox root filesystem into `dir`: /bin/busybox (copied), applet symlinks, the
// usual mount points and, when `startup_script` is not empty, /startup.sh (mode 0755).
void make_busybox_rootfs(const std::string& dir, const std::string& startup_script);

// The contents of tests/kernel/containers/NAME.
std::string container_asset(const std::string& name);

class Cleanup;  // runtimes.cpp: the leftover record and what undoes it

// A runc container from a busybox bundle, under its own runc --root.
struct RuncOptions {
    std::string id;                                  // container id
    std::string cgroups_path;                        // linux.cgroupsPath
    std::string script;                              // /startup.sh; empty: none
    std::vector<std::string> args{"/startup.sh"};    // process.args
    std::string join_pidns;                          // e.g. "/proc/PID/ns/pid": share that namespace
};

class RuncContainer {
public:
    // Builds the bundle (rootfs, `runc spec` edited); does not start it.
    explicit RuncContainer(RuncOptions options);
    // Appends an OCI mount (e.g. a bind mount of a host file) to the bundle's config.json.
    void add_mount(const nlohmann::json& mount);
    ~RuncContainer();
    RuncContainer(const RuncContainer&) = delete;
    RuncContainer& operator=(const RuncContainer&) = delete;

    // `runc --root STATE run -d --bundle B ID </dev/null >LOG 2>&1`; REQUIREs success and
    // records the cgroup v2 id while the container still runs.
    void start();
    // `runc kill ID SIGNAL`; returns runc's status.
    int kill(const std::string& signal);
    // From `runc state`: "running", "stopped", ...; "" when runc does not know the id.
    std::string status() const;
    int init_pid() const;  // host pid of the container's init, 0 once stopped
    bool wait_for_status(const std::string& status, double timeout_s) const;
    // Waits until the init's /proc/PID/cmdline equals argv (the entrypoint exec'd).
    bool wait_for_init_argv(const std::vector<std::string>& argv, double timeout_s) const;
    // Waits until the container's cgroup (v2) holds n processes.
    bool wait_for_process_count(size_t n, double timeout_s) const;

    const std::string& id() const { return options_.id; }
    const std::string& cgroup_path() const { return options_.cgroups_path; }
    // For `runc --root STATE run --bundle BUNDLE ID` run by someone else (a gate's CMD).
    const std::string& bundle() const { return bundle_; }
    const std::string& state_root() const { return state_; }
    uint64_t cgroup_id() const { return cgroup_id_; }  // recorded by start()
    std::string log() const;  // runc's output

private:
    CmdResult runc(std::vector<std::string> args, double timeout_s = 30) const;

    RuncOptions options_;
    std::string dir_, bundle_, state_, log_;
    uint64_t cgroup_id_ = 0;
    std::unique_ptr<Cleanup> cleanup_;
};

// A private containerd daemon: config, root, state and socket in a temp dir, the CRI plugin
// disabled. Its containers run with their runc root and logs in that dir too; only the shim
// sockets land in /run/containerd/s (removed with the shims).
class Containerd {
public:
    Containerd();  // starts the daemon and waits until `ctr version` answers
    ~Containerd();
    Containerd(const Containerd&) = delete;
    Containerd& operator=(const Containerd&) = delete;

    // `ctr -a SOCK ARGS...`
    CmdResult ctr(std::vector<std::string> args, double timeout_s = 30) const;
    // Writes a busybox rootfs with `script` as /startup.sh and runs
    // `ctr -a SOCK -n NS run -d --rootfs DIR ID /startup.sh`; REQUIREs success. The cgroup is
    // /NS/ID. Returns the task's host pid.
    int run(const std::string& ns, const std::string& id, const std::string& script);
    // "RUNNING", "STOPPED", ... from `ctr task ls`; "" when there is no such task.
    std::string task_status(const std::string& ns, const std::string& id) const;
    bool wait_for_task_status(const std::string& ns, const std::string& id, const std::string& status,
                              double timeout_s) const;
    const std::string& socket() const { return socket_; }
    pid_t daemon_pid() const { return pid_; }

private:
    std::string dir_, socket_;
    pid_t pid_ = -1;
    std::unique_ptr<Cleanup> cleanup_;
};

// kubelet's container log layout under a temp host root (initwatch --host-root):
//   var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
//   var/log/containers/<pod>_<namespace>_<container>-<container id>.log -> the file above,
// the link's target absolute as kubelet writes it (/var/log/pods/...): it only resolves
// inside the host root, as it does for a DaemonSet that mounts the host's /var/log.
struct PodRef {
    std::string name, ns, uid;
};

class KubeletLogs {
public:
    KubeletLogs();
    ~KubeletLogs();
    KubeletLogs(const KubeletLogs&) = delete;
    KubeletLogs& operator=(const KubeletLogs&) = delete;

    const std::string& host_root() const { return root_; }
    // One container instance (restart = kubelet's restart count: 0.log, 1.log, ...).
    void add_container(const PodRef& pod, const std::string& container, const std::string& container_id,
                       int restart = 0);

private:
    std::string root_;
    std::unique_ptr<Cleanup> cleanup_;
};

// The leftover records of dead test processes: undone now. Every fixture calls it first.
void sweep_leftovers();

}  // namespace initwatch::ktest
