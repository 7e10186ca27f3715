// The process table per pid namespace and the init-exit detector. Pure C++: fed a stream
// of typed events (live, recorded or synthetic), it emits findings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/event.h"
#include "model/finding.h"

namespace initwatch::model {

struct TrackerLimits {
    // One bound in bytes for the process table and the argv store (Argv::live_bytes()).
    // argv is kept in full while both take at most half of it; past that, a new argv keeps
    // only its first kDroppedArgvBytes (argv_dropped). The other half is the process
    // table's own: a process is refused (counted, not tracked) only when it is full.
    size_t max_memory_bytes = size_t{64} << 20;
    size_t max_processes = 0;  // a count bound as well; 0: the byte budget alone
    size_t max_listed = 200;   // live processes a finding lists one by one; the rest are counted
    // A namespace whose init exited is forgotten this long after, even if the exits of its
    // last members were never seen (lost events).
    uint64_t dead_namespace_grace_ns = 30'000'000'000ULL;
    // worker_exit: a process init started (or that was reparented to init) counts as a
    // worker once it has run this long.
    uint64_t worker_min_age_ns = 30'000'000'000ULL;
};

struct TrackerStats {
    size_t processes = 0;
    size_t namespaces = 0;
    size_t cgroups = 0;  // cgroups with a tracked main process
    uint64_t untracked = 0;  // processes not tracked because the table was full
    uint64_t argv_dropped = 0;  // argv kept as a prefix only: the budget was spent
    uint64_t starters_dropped = 0;  // exited parents not remembered: the budget was spent
    uint64_t workers_dropped = 0;   // worker_exit findings not made: kMaxPendingWorkers were held
    size_t memory_bytes = 0;  // what the budget counts: the table and the argv store
    uint64_t list_searches = 0;  // list removals whose stored index was stale: a bug if ever > 0
};

class Tracker {
public:
    explicit Tracker(TrackerLimits limits = {});

    // Applies one event; returns a finding when it is the exit of a namespace init that
    // left other processes of its namespace alive. worker_exit findings wait for a restart
    // (kRestartWindowNs) and come from take_due().
    std::optional<Finding> apply(const Event& event);

    // Moves the worker_exit findings due by now_ns (CLOCK_MONOTONIC) to `out`; UINT64_MAX:
    // all of them (when the caller ends).
    void take_due(uint64_t now_ns, std::vector<Finding>& out);
    size_t pending_workers() const { return pending_.size(); }

    // Events were lost: every namespace's next finding may be incomplete.
    void mark_incomplete();

    // argv read from /proc for a process of the startup snapshot (SnapshotEvent::argv_unknown):
    // taken unless the process has exec'd since, or is gone.
    void set_snapshot_argv(const ProcKey& key, Argv argv, bool truncated);

    // Forgets dead namespaces past their grace period.
    void expire(uint64_t now_ns);

    // After lost events: `live` is a fresh snapshot taken at `taken_ns`. Processes that
    // started before it and are missing from it exited unseen and are forgotten; live ones
    // not tracked yet are added. Returns how many processes were forgotten.
    size_t resync(const std::vector<SnapshotEvent>& live, uint64_t taken_ns);

    TrackerStats stats() const;
    // What the byte budget counts now.
    size_t memory_bytes() const;

    static constexpr size_t kDroppedArgvBytes = 128;
    // init exiting this soon after the child it waited for: an init shim (tini, dumb-init).
    static constexpr uint64_t kEntrypointWindowNs = 1'000'000'000ULL;
    static constexpr uint64_t kRestartWindowNs = model::kRestartWindowNs;
    // worker_exit findings held at once (one per namespace; later ends in its window are
    // counted in it), and the processes each lists beside its worker.
    static constexpr size_t kMaxPendingWorkers = 16;
    static constexpr size_t kMaxListedBesideWorker = 32;
    // What remembering one exited process costs (its argv aside, counted with the store's).
    static size_t bytes_per_exited();
    // What one tracked process costs beside its argv (checked by tools/bench, memory phase).
    static size_t bytes_per_process();

    // What is known of a live process (for per-event output), or nullptr.
    const ProcessSummary* summary(const ProcKey& key) const;

private:
    // An exited process remembered for what it left: the parent of reparented processes,
    // the child an init shim waited for. Shared by those who point to it; its argv is shared.
    struct Exited {
        ProcessSummary summary;
        uint32_t wait_status = 0;
        uint64_t start_ns = 0;
        uint64_t exit_ns = 0;
    };
    using ExitedRef = std::shared_ptr<const Exited>;

    struct Process {
        TaskInfo task;
        ProcessSummary summary;
        ProcKey parent;  // current parent: the real parent, or init after a reparent
        bool reparented = false;
        // Its lineage entered the namespace from outside (runc exec, nsenter), or is unknown.
        bool entered = false;
        ExitedRef started_by;  // the parent that started it, once that one exited
        bool started_by_dropped = false;
        std::optional<ProcKey> ns;  // init key of its namespace
        std::vector<ProcKey> children;  // its own and those reparented to it
        uint32_t started_children = 0;  // of them, the ones it forked itself
        // Forks and execs it made: a child started when it was N, that ends while it is
        // still N, ran while its parent did nothing else (a shell's foreground command).
        uint32_t activity = 0;
        uint32_t parent_activity = 0;  // its parent's activity just after forking it
        uint64_t cgroup_id = 0;     // the cgroup it is a member of (0: none tracked)
        // Its index in its parent's `children`, its namespace's and its cgroup's `members`:
        // leaving a list is a swap with the last entry, not a search (a container may
        // hold tens of thousands of processes, and they all exit at once).
        uint32_t child_slot = 0;
        uint32_t ns_slot = 0;
        uint32_t cgroup_slot = 0;
    };
    using Slot = uint32_t Process::*;

    // A cgroup's main process: the first to exec there with its parent outside.
    struct Cgroup {
        std::optional<ProcKey> main;
        bool reported = false;         // its main exited leaving work behind: no second main
        std::vector<ProcKey> members;  // live processes, main included
    };

    struct Namespace {
        ProcKey init;
        uint32_t inum = 0;
        std::optional<ProcKey> outer;  // namespace it is nested in
        std::vector<ProcKey> nested;
        std::vector<ProcKey> members;  // live processes, init included
        bool init_exited = false;
        uint64_t died_ns = 0;
        bool lost_events = false;
        ExitedRef waited_child;  // init's last child to exit while it was init's only child
    };

    struct PendingWorker {
        Finding finding;
        ProcKey ns;
        uint64_t due_ns = 0;
        // init may have been waiting for it (a script's foreground step: init did nothing
        // else while it ran), or it ended cleanly leaving init alone (a daemon stopped on
        // request): if init goes on (forks or execs) within the window without starting it
        // again, the script is at work, and the finding is dropped.
        bool dropped_if_init_goes_on = false;
        uint32_t init_activity = 0;  // init's activity at the worker's end
    };
    // Whether a held finding is a script's step after all (see dropped_if_init_goes_on).
    bool was_a_step(const PendingWorker& w, const Process* init) const;

    Process* track(const TaskInfo& task, uint64_t ts_ns, Argv argv,
                   bool from_snapshot);
    std::optional<ProcKey> namespace_for(const TaskInfo& task, const Process* parent);
    std::optional<ProcKey> existing_namespace(const TaskInfo& task, const Process* parent) const;
    Namespace* find_namespace(const std::optional<ProcKey>& init);
    void on_exec(const ExecEvent& ev);
    std::optional<Finding> on_exit(const ExitEvent& ev);
    Finding build_finding(const Process& init, const Namespace& ns, const ExitEvent& ev) const;
    Finding start_finding(const Process& init, Scope scope, const ExitEvent& ev) const;
    // Lists the first max_listed members (ordered by start time) and counts the rest.
    // max_listed 0: TrackerLimits::max_listed.
    template <typename Classify>
    void add_live(Finding& f, std::vector<const Process*>& members, uint64_t now_ns, Classify classify,
                  size_t max_listed = 0) const;
    How how_in_namespace(const Process& p, const Process& init, std::vector<uint32_t>* chain) const;
    How how_in_cgroup(const Process& p, const Process& main, std::vector<uint32_t>* chain) const;
    // The argv a process may keep within the budget: argv itself, or its prefix.
    Argv within_budget(Argv argv, bool& dropped);
    void collect_members(const Namespace& ns, std::vector<const Process*>& out) const;
    void forget(const ProcKey& key, const ProcKey& reaper);
    void erase_namespace(const ProcKey& init);
    void mark_init_exited(Namespace& ns, uint64_t ts_ns);
    void forget_inum(const Namespace& ns);
    void list_add(std::vector<ProcKey>& list, Process& p, Slot slot);
    void list_remove(std::vector<ProcKey>& list, const Process& p, Slot slot);
    void join_cgroup(Process& p, uint64_t cgroup_id);
    void leave_cgroup(const Process& p);
    std::optional<Finding> cgroup_finding(const Process& main, const ExitEvent& ev) const;
    LiveProcess live_process(const Process& p, uint64_t now_ns) const;
    ExitedRef remember(const Process& p, const ExitEvent& ev);
    void worker_exited(const Process& p, const Process& init, const Namespace& ns, const ExitEvent& ev);
    void init_exited_with_workers(const ProcKey& ns, const ExitStatus& init_status, uint64_t ts_ns);
    void restarted_by_init(const Process& p);

    TrackerLimits limits_;
    // Before the tables: the records they hold count themselves out here when freed.
    size_t exited_records_ = 0;
    uint64_t starters_dropped_ = 0;
    uint64_t workers_dropped_ = 0;
    std::vector<PendingWorker> pending_;
    std::unordered_map<ProcKey, Process, ProcKeyHash> procs_;
    std::unordered_map<ProcKey, Namespace, ProcKeyHash> namespaces_;  // by init key
    std::unordered_map<uint32_t, ProcKey> live_ns_by_inum_;  // inodes are reused: live ones only
    std::unordered_map<uint64_t, Cgroup> cgroups_;
    uint64_t untracked_ = 0;
    uint64_t argv_dropped_ = 0;
    uint64_t list_searches_ = 0;
};

}  // namespace initwatch::model
