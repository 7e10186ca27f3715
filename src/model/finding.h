// What initwatch reports: a namespace init that exited while other processes lived.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/argv.h"
#include "model/event.h"
#include "model/exit_status.h"

namespace initwatch::model {

enum class Severity { info, warning, error };

// A worker's end is reported this long after it, unless init starts the same command
// again before (a supervisor, then at info level), or exits (then at once).
inline constexpr uint64_t kRestartWindowNs = 3'000'000'000ULL;

// What a finding is about.
enum class Kind {
    init_exit,     // init exited while processes it started still ran
    worker_exit,   // a long-lived process init started ended while init lives on
    stop_ignored,  // a container's init ignored its stop signal and was SIGKILLed after the grace period
};

// What "init" means in a finding.
enum class Scope {
    pidns,   // PID 1 of a pid namespace: the kernel killed the rest
    cgroup,  // a container's main process without a namespace of its own (shared pid
             // namespace, hostPID): the runtime kills the rest of its cgroup
};

// How a process left behind came to be under init.
enum class How {
    background,  // init started it and never waited for it (`cmd &`)
    reparented,  // its parent exited and the kernel gave it to init (daemon, double fork)
    descendant,  // started by one of the above
    entered,     // its ancestor joined the namespace from outside (runc exec, nsenter)
};

const char* to_string(Kind k);
const char* to_string(Severity s);
const char* to_string(How h);
const char* to_string(Scope s);

struct ProcessSummary {
    ProcKey key;          // host pid and start time
    uint32_t pid = 0;     // host pid
    uint32_t ns_pid = 0;  // pid in its deepest pid namespace
    std::string comm;
    Argv argv;
    bool argv_truncated = false;  // longer than the kernel side reads (4 KiB)
    // Past the memory budget (--max-memory) only a prefix of argv is kept.
    bool argv_dropped = false;
    // From the startup snapshot, and /proc/PID/cmdline was not read in time (or not yet).
    bool argv_unknown = false;
    bool from_snapshot = false;  // known from the startup snapshot, not seen being born
    // False for a fork that has not exec'd yet: its argv is still its parent's.
    bool execed = true;
    // Where its stdout and stderr pointed at its exec (unknown outside containers).
    std::array<Stdio, 2> stdio;
};

// A process that has exited, as a finding tells of it.
struct ExitedSummary : ProcessSummary {
    ExitStatus status;
    uint64_t ran_ns = 0;
    uint64_t before_ns = 0;  // how long before the finding's moment (init's exit) it exited
};

// Who started a left-behind process: its parent, alive (status unset) or exited.
struct Starter : ProcessSummary {
    std::optional<ExitStatus> status;  // unset: still running
    uint64_t before_ns = 0;            // exited this long before init's exit
};

// The line of the entrypoint script that started a process (attach_sources, at report time).
struct SourceLine {
    std::optional<std::string> file;  // the script's path in the container; unset for `sh -c`
    uint32_t line = 0;                // 1-based
    std::string text;                 // the line as written
    std::string suggestion;           // the foreground command to write instead: `exec ...`
};

// The process the script's own process started, that led to this one: itself, or the ancestor
// it descends from. What a script line is matched against.
struct Launch {
    Argv argv;
    bool execed = true;  // false: a fork of the script's shell that never exec'd (its argv is the script's)
    // Among the script process's forks that it did not wait for (`cmd &`), this one's place
    // (1-based); 0 when not known or not one of them.
    uint32_t background_index = 0;
};

struct LiveProcess : ProcessSummary {
    uint32_t ppid = 0;    // host pid of its current parent
    uint64_t age_ns = 0;  // at init's exit
    How how = How::background;
    std::vector<uint32_t> chain;  // host pids from its parent up to init, init last
    bool sighup_ignored = false;  // nohup
    bool session_leader = false;  // setsid
    // For a reparented or descendant process: the process that started it. Unset when not
    // known: not seen (it ended before tracing began), or the memory budget was spent
    // (started_by_dropped).
    std::optional<Starter> started_by;
    bool started_by_dropped = false;
    // What the script process started that led to it (FindingBuilder), and the script's line
    // that did it (attach_sources, once the script is read): unset when not known.
    std::optional<Launch> launch;
    std::optional<SourceLine> source;
};

// Live processes a finding does not list one by one, counted by how they got there and
// by comm.
struct LiveGroup {
    How how = How::background;
    std::string comm;  // "" for the processes of every comm past the last group
    uint64_t count = 0;
};

// Adds `count` processes to their group; past max_groups distinct groups, they are counted
// in a last group of comm "" (per `how`), so that a container cannot grow the list.
void add_to_groups(std::vector<LiveGroup>& groups, How how, std::string_view comm, uint64_t count,
                   size_t max_groups = 16);

// Who sent the fatal signal that ended init or a worker (signal_generate, mark_victim).
struct KilledBy {
    enum class Sender {
        process,  // a process sent it (kill(2), tkill, sigqueue, cgroup.kill's writer)
        kernel,   // no user sender: a fault, the namespace's init exiting, a kernel thread
        oom,      // the OOM killer
    };
    Sender kind = Sender::kernel;
    int signal = 0;
    // kind process: the sender as the process table knew it when it sent the signal (argv
    // empty when unknown).
    std::optional<ProcessSummary> sender;
    uint64_t sender_cgroup_id = 0;
    uint32_t sender_ns_level = 0;  // 0: the host's pid namespace
    bool same_namespace = false;   // the sender is in the pid namespace of what it killed
    // kind oom: the tightest memory.max of the victim's cgroup and its ancestors, in bytes
    // (read at report time; unset when unlimited or not readable).
    std::optional<uint64_t> memory_max;
};

const char* to_string(KilledBy::Sender s);
// "SIGKILL from runc (pid 812, on the node)", "SIGTERM from `kill 1` inside the container",
// "SIGKILL from the OOM killer (memory.max 32 MiB)".
std::string describe(const KilledBy& k);

// The stop signal a container's init ignored (a namespace init without a handler: the kernel
// drops it), before the SIGKILL that ended it.
struct IgnoredStop {
    uint64_t ts_ns = 0;      // when the first one was sent
    KilledBy sender;         // who sent it: kind process (a runtime, kubelet, `docker stop`)
    uint64_t waited_ns = 0;  // from it to init's end (stop_ignored findings)
};

struct InitSummary : ProcessSummary {
    ExitStatus status;
    uint64_t ran_ns = 0;
};

// The worker of a worker_exit finding: how it ended, at which age (age_ns).
struct WorkerSummary : LiveProcess {
    ExitStatus status;
};

struct Finding {
    Kind kind = Kind::init_exit;
    uint64_t ts_ns = 0;  // CLOCK_MONOTONIC of init's exit (worker_exit: of the worker's)
    Severity severity = Severity::warning;
    Scope scope = Scope::pidns;
    std::string diagnosis;
    uint64_t cgroup_id = 0;
    uint32_t pidns_inum = 0;
    // The container it happened in, as only the kernel's namespaces tell (a pod cannot forge
    // it as it can cgroup names): the init of the outermost pid namespace it is nested in.
    // Unset for a container without a namespace of its own (scope cgroup: its cgroup_id).
    std::optional<ProcKey> origin;
    InitSummary init;  // worker_exit: init lives; status unset, ran_ns its age
    // init_exit: the child init waited for, when init exited right after it (an init shim:
    // tini, dumb-init, docker run --init, or any wrapper of one child).
    std::optional<ExitedSummary> entrypoint;
    // The process whose script started what is listed: the entrypoint behind a shim, else init.
    ProcKey script_process;
    // That process's script, when it ran one (sh FILE, a #! script, sh -c TEXT): where it
    // is, and why it could not be read (`unread`, empty when it was).
    struct Script {
        std::optional<std::string> file;  // unset for sh -c
        std::string unread;
    };
    std::optional<Script> script;
    std::optional<WorkerSummary> worker;  // worker_exit only
    bool restarted = false;               // worker_exit: init started the same command again (a supervisor)
    uint64_t other_workers_ended = 0;     // worker_exit: more of init's workers ended within kRestartWindowNs
    // Every process left alive, ordered by start time: the first ones (TrackerLimits::
    // max_listed) in `live`, the others counted in `unlisted`.
    std::vector<LiveProcess> live;
    std::vector<LiveGroup> unlisted;
    size_t live_count = 0;  // live.size() + all counted in unlisted: exact
    // Pids the kernel still had allocated in the namespace (init, threads and unreaped
    // zombies included): never fewer than 1 + live, unless initwatch missed exits.
    uint32_t kernel_ns_pids = 0;
    bool kernel_disagrees = false;  // live lists more processes than the kernel has pids
    bool incomplete = false;        // events were lost: the list may be wrong
    // Who sent the signal that ended init (init_exit) or the worker (worker_exit); unset when
    // it did not end by a signal, or its sender was not seen.
    std::optional<KilledBy> killed_by;
    std::optional<IgnoredStop> stop;  // stop_ignored only
};

// Severity of an init's end: exiting on its own while work runs is the crash-loop pattern.
Severity severity_of(const ExitStatus& status);
// Severity of a worker's end while init lives: a crash or a failure is an error, SIGKILL
// (kill -9) or exit 0 leaving init alone a warning, a stop (SIGTERM, SIGINT, SIGHUP) or a
// restart by a supervisor info; the OOM killer's kill (when known) an error, restarted or not.
Severity worker_severity_of(const ExitStatus& status, bool restarted,
                            const std::optional<KilledBy>& killed_by = std::nullopt);

// One sentence a person can act on.
std::string diagnose(const Finding& f);
// " Its stdout and stderr went to /dev/null, not to the container's log ...", when what p
// wrote did not go where init's stdout went (what the runtime reads); "" when it did, or
// when that is not known.
std::string output_note(const Finding& f, const ProcessSummary& p);

// About how many bytes the finding takes in an output (a JSON line): what a container's
// output budget is charged.
size_t approximate_output_bytes(const Finding& f);

}  // namespace initwatch::model
