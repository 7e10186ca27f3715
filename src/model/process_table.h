// The process table: every process (thread group) by key, its lineage (parent, children,
// who started it), its pid namespace and container cgroup, and the one byte budget
// (--max-memory) for the table, the argv store and the exited processes remembered. Pure
// C++, no policy: Tracker applies events to it, FindingBuilder reads it, WorkerWatch
// decides about workers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
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

class ProcessTable {
public:
    // An exited process remembered for what it left: the parent of reparented processes,
    // the child an init shim waited for. Shared by those who point to it; its argv is shared.
    struct Exited;
    using ExitedRef = std::shared_ptr<const Exited>;
    struct Exited {
        ProcessSummary summary;
        uint32_t wait_status = 0;
        uint64_t start_ns = 0;
        uint64_t exit_ns = 0;
        // Its lineage, for the process a script launched (FindingBuilder): the parent that
        // started it, and that one's record once it exited too.
        ProcKey parent;
        ExitedRef started_by;
        uint32_t background_index = 0;
    };

    // Whose share of the budget a process counts against: its container (the init of the
    // outermost pid namespace it is in: nested namespaces are still that container's), else
    // its container cgroup, else the host (all zero).
    struct Owner {
        ProcKey container;
        uint64_t cgroup_id = 0;
        bool operator==(const Owner& o) const { return container == o.container && cgroup_id == o.cgroup_id; }
    };
    struct OwnerHash {
        size_t operator()(const Owner& o) const noexcept {
            return ProcKeyHash{}(o.container) ^ std::hash<uint64_t>{}(o.cgroup_id * 0x9e3779b97f4a7c15ULL);
        }
    };

    struct Process {
        TaskInfo task;
        ProcessSummary summary;
        ProcKey parent;  // current parent: the real parent, or init after a reparent
        bool reparented = false;
        // Its lineage entered the namespace from outside (runc exec, nsenter), or is unknown.
        bool entered = false;
        ExitedRef started_by;  // the parent that started it, once that one exited
        bool started_by_dropped = false;
        std::optional<ProcKey> ns;      // init key of its namespace
        std::vector<ProcKey> children;  // its own and those reparented to it
        uint32_t started_children = 0;  // of them, the ones it forked itself
        // Forks and execs it made: a child started when it was N, that ends while it is
        // still N, ran while its parent did nothing else (a shell's foreground command).
        uint32_t activity = 0;
        uint32_t parent_activity = 0;  // its parent's activity just after forking it
        // A shell's `cmd &`: a fork still alive when its parent forks again (or exits) was not
        // waited for. Its place among its parent's such forks (1-based; 0: not one), and the
        // parent's count and latest fork.
        uint32_t background_index = 0;
        uint32_t background_forks = 0;
        ProcKey last_forked;
        uint64_t cgroup_id = 0;  // the cgroup it is a member of (0: none tracked)
        Owner owner;             // whose share of the budget it counts against
        // Its index in its parent's `children`, its namespace's and its cgroup's `members`:
        // leaving a list is a swap with the last entry, not a search (a container may
        // hold tens of thousands of processes, and they all exit at once).
        uint32_t child_slot = 0;
        uint32_t ns_slot = 0;
        uint32_t cgroup_slot = 0;
        uint32_t owner_slot = 0;
    };

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
        std::optional<KilledBy> waited_child_killed_by;  // who sent the signal it died of, when seen
        std::optional<IgnoredStop> stop;  // the first stop signal init ignored (a container's own init)
    };

    static constexpr size_t kDroppedArgvBytes = 128;

    explicit ProcessTable(const TrackerLimits& limits);

    const Process* find(const ProcKey& key) const;
    Process* find(const ProcKey& key);
    const Namespace* find_namespace(const std::optional<ProcKey>& init) const;
    Namespace* find_namespace(const std::optional<ProcKey>& init);
    const Cgroup* find_cgroup(uint64_t id) const;
    Cgroup* find_cgroup(uint64_t id);

    // Adds a process (a fork, a snapshot's process, an exec whose fork was not seen). When the
    // budget is spent the table stays fair, as WorkerWatch's slots and the output budget are:
    // the container holding the most processes gives up one of its latest (a leaf, never an
    // init or a cgroup's main) if it holds more than this one's will; otherwise this process
    // is refused. Either way counted (untracked, untracked_of) against the container that had
    // its share, and its namespace marked incomplete; nullptr when refused.
    Process* track(const TaskInfo& task, Argv argv, bool from_snapshot);
    // An exec: the new program's argv (within the budget), comm, cgroup; returns the process
    // (tracked now if its fork was not seen), or nullptr when refused.
    Process* exec(const ExecEvent& ev);
    // argv read from /proc for a process of the startup snapshot: taken unless it has exec'd
    // since, or is gone.
    void set_snapshot_argv(const ProcKey& key, Argv argv, bool truncated);

    // Remembers an exited process within the byte budget; nullptr when the budget is spent.
    ExitedRef remember(const Process& p, const ExitEvent& ev);
    // Its latest fork, if still alive and not numbered yet, was not waited for: numbered now.
    void number_background_fork(Process& parent);
    // Hands an exited process's children who started them (`exited`, or "dropped").
    void hand_starter(const Process& p, const ExitedRef& exited);
    // Removes an exited process; its live children now belong to `reaper`.
    void forget(const ProcKey& key, const ProcKey& reaper);
    void mark_init_exited(Namespace& ns, uint64_t ts_ns);

    // The container a namespace belongs to: the outermost namespace it is nested in (a
    // container's own; nested namespaces inside it are still that container's).
    ProcKey container_of(const Namespace& ns) const;
    // Members of the namespace and of every namespace nested in it: the kernel kills them all.
    void collect_members(const Namespace& ns, std::vector<const Process*>& out) const;
    // How a process came to be under init (its chain of parents, host pids, up to init).
    How how_in_namespace(const Process& p, const Process& init, std::vector<uint32_t>* chain) const;
    How how_in_cgroup(const Process& p, const Process& main, std::vector<uint32_t>* chain) const;

    // Events were lost: every namespace's next finding may be incomplete.
    void mark_incomplete();
    // Forgets dead namespaces past their grace period.
    void expire(uint64_t now_ns);
    // After lost events: `live` is a fresh snapshot taken at `taken_ns`. Processes that
    // started before it and are missing from it exited unseen and are forgotten; live ones
    // not tracked yet are added. Returns how many processes were forgotten.
    size_t resync(const std::vector<SnapshotEvent>& live, uint64_t taken_ns);
    // A process of the startup snapshot (or of a resync).
    void add_snapshot(const SnapshotEvent& snap);

    size_t processes() const { return procs_.size(); }
    size_t namespaces() const { return namespaces_.size(); }
    size_t cgroups_with_main() const;
    uint64_t untracked() const { return untracked_; }
    // Of them, those of `owner` while it holds processes; and how many it holds.
    uint64_t untracked_of(const Owner& owner) const;
    size_t held_by(const Owner& owner) const;
    const Owner* owner_of(const ProcKey& key) const {
        const Process* p = find(key);
        return p ? &p->owner : nullptr;
    }
    uint64_t argv_dropped() const { return argv_dropped_; }
    uint64_t starters_dropped() const { return starters_dropped_; }
    uint64_t list_searches() const { return list_searches_; }
    // What the byte budget counts now.
    size_t memory_bytes() const;
    // What remembering one exited process costs (its argv aside, counted with the store's).
    static size_t bytes_per_exited();
    // What one tracked process costs beside its argv (checked by tools/bench, memory phase).
    static size_t bytes_per_process();

private:
    using Slot = uint32_t Process::*;

    std::optional<ProcKey> namespace_for(const TaskInfo& task, const Process* parent);
    std::optional<ProcKey> existing_namespace(const TaskInfo& task, const Process* parent) const;
    Owner owner_for(const TaskInfo& task, const Process* parent) const;
    bool full() const;
    // The owner holding the most gives up one of its latest leaves (never `keep`) if it holds
    // more than `mine` plus one; false if none was given up.
    bool make_room(const Owner& mine, const ProcKey& keep);
    void refuse(const Owner& owner, Namespace* ns);
    void own(Process& p);
    void disown(const Process& p);
    // The argv a process may keep within the budget: argv itself, or its prefix.
    Argv within_budget(Argv argv, bool& dropped);
    void erase_namespace(const ProcKey& init);
    void forget_inum(const Namespace& ns);
    void list_add(std::vector<ProcKey>& list, Process& p, Slot slot);
    void list_remove(std::vector<ProcKey>& list, const Process& p, Slot slot);
    void join_cgroup(Process& p, uint64_t cgroup_id);
    void leave_cgroup(const Process& p);

    TrackerLimits limits_;
    // Before the tables: the records they hold count themselves out here when freed.
    size_t exited_records_ = 0;
    std::unordered_map<ProcKey, Process, ProcKeyHash> procs_;
    std::unordered_map<ProcKey, Namespace, ProcKeyHash> namespaces_;  // by init key
    std::unordered_map<uint32_t, ProcKey> live_ns_by_inum_;           // inodes are reused: live ones only
    std::unordered_map<uint64_t, Cgroup> cgroups_;
    std::unordered_map<Owner, std::vector<ProcKey>, OwnerHash> owned_;   // live processes by owner
    std::unordered_map<Owner, uint64_t, OwnerHash> untracked_by_owner_;  // while it holds processes
    uint64_t untracked_ = 0;
    uint64_t argv_dropped_ = 0;
    uint64_t starters_dropped_ = 0;
    uint64_t list_searches_ = 0;
};

}  // namespace initwatch::model
