// Typed process-lifecycle events: what the model consumes. Pure C++, no libbpf.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "model/argv.h"

namespace initwatch::model {

// A process (thread group): a pid is reused, a pid with its start time is not.
struct ProcKey {
    uint32_t tgid = 0;
    uint64_t start_ns = 0;  // CLOCK_MONOTONIC

    bool operator==(const ProcKey& o) const { return tgid == o.tgid && start_ns == o.start_ns; }
    bool operator!=(const ProcKey& o) const { return !(*this == o); }
};

struct ProcKeyHash {
    size_t operator()(const ProcKey& k) const noexcept {
        return std::hash<uint64_t>{}(k.start_ns * 0x9e3779b97f4a7c15ULL ^ k.tgid);
    }
};

// Where a process's stdout or stderr pointed when it exec'd (known in containers only).
enum class StdioKind : uint8_t { unknown, closed, pipe, socket, null, tty, file, other };
const char* to_string(StdioKind k);
struct Stdio {
    StdioKind kind = StdioKind::unknown;
    uint64_t ino = 0;  // the same pipe (or file) when equal
    std::string name;  // a file's or device's name (the last component of its path)
    bool operator==(const Stdio& o) const { return kind == o.kind && ino == o.ino; }
};

// What every event says about the process it concerns.
struct TaskInfo {
    ProcKey key;
    ProcKey parent;               // real parent when the event happened
    uint64_t cgroup_id = 0;       // cgroup v2 id
    uint32_t pidns_inum = 0;      // deepest pid namespace
    uint32_t ns_pid = 0;          // pid inside it
    uint32_t ns_level = 0;        // 0: host
    bool sighup_ignored = false;  // as left by nohup
    bool session_leader = false;  // as after setsid
    std::string comm;
};

struct ForkEvent {
    uint64_t ts_ns = 0;
    TaskInfo task;  // the child
};

// A process that existed before tracing began (startup snapshot).
struct SnapshotEvent {
    uint64_t ts_ns = 0;
    TaskInfo task;
    Argv argv;
    bool argv_truncated = false;
    bool argv_unknown = false;  // read from /proc later (Tracker::set_snapshot_argv), if in time
};

struct ExecEvent {
    uint64_t ts_ns = 0;
    TaskInfo task;
    uint32_t old_pid = 0;
    std::string filename;
    Argv argv;
    bool argv_truncated = false;
    std::array<Stdio, 2> stdio;  // fd 1, fd 2
};

struct ExitEvent {
    uint64_t ts_ns = 0;
    TaskInfo task;
    uint32_t wait_status = 0;  // raw, decoded by ExitStatus
    bool ns_init = false;
    uint32_t ns_pids_allocated = 0;  // kernel's count of pids in the namespace at init's exit
};

// A fatal signal on its way to a watched process (a namespace init or its child).
struct SignalEvent {
    uint64_t ts_ns = 0;
    TaskInfo task;    // the target
    TaskInfo sender;  // unset fields (key 0) when from_kernel
    bool from_kernel = false;
    int signal = 0;
    int32_t si_code = 0;
    // A namespace init's fatal-by-default signal the kernel dropped (no handler): it ended
    // nothing. Never a SIGKILL.
    bool ignored = false;
};

// The OOM killer chose this process.
struct OomEvent {
    uint64_t ts_ns = 0;
    TaskInfo task;  // the victim: its key only (start_ns 0 when the kernel gave a pid only)
};

using Event = std::variant<ForkEvent, ExecEvent, ExitEvent, SnapshotEvent, SignalEvent, OomEvent>;

const TaskInfo& task_of(const Event& e);
uint64_t time_of(const Event& e);

}  // namespace initwatch::model
