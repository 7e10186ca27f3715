// The model's one entry point: a stream of typed events (live, recorded or synthetic) in,
// findings out. Pure C++, no libbpf. Four parts, one job each: the ProcessTable (tracking,
// lineage, the byte budget), the FindingBuilder (a finding from the table), the WorkerWatch
// (worker ends held for a supervisor's restart) and the KillerLog (who sent fatal signals).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "model/event.h"
#include "model/finding.h"
#include "model/finding_builder.h"
#include "model/killer_log.h"
#include "model/process_table.h"
#include "model/worker_watch.h"

namespace initwatch::model {

struct TrackerStats {
    size_t processes = 0;
    size_t namespaces = 0;
    size_t cgroups = 0;             // cgroups with a tracked main process
    uint64_t untracked = 0;         // processes not tracked because the table was full
    uint64_t argv_dropped = 0;      // argv kept as a prefix only: the budget was spent
    uint64_t starters_dropped = 0;  // exited parents not remembered: the budget was spent
    uint64_t workers_dropped = 0;   // worker_exit findings not made: WorkerWatch's bounds
    size_t memory_bytes = 0;        // what the budget counts: the table and the argv store
    uint64_t list_searches = 0;     // list removals whose stored index was stale: a bug if ever > 0
    uint64_t killers_refused = 0;   // fatal signals whose sender was not kept: KillerLog was full
};

class Tracker {
public:
    explicit Tracker(TrackerLimits limits = {});
    Tracker(const Tracker&) = delete;
    Tracker& operator=(const Tracker&) = delete;

    // Applies one event; returns a finding when it is the exit of a namespace init that
    // left other processes of its namespace alive (or of a container's main process that
    // left others in its cgroup). worker_exit findings wait for a restart, and a stop_ignored
    // finding comes beside an init's own: both from take_due().
    std::optional<Finding> apply(const Event& event);

    // Moves the worker_exit findings due by now_ns (CLOCK_MONOTONIC) to `out`; UINT64_MAX:
    // all of them (when the caller ends).
    void take_due(uint64_t now_ns, std::vector<Finding>& out);
    size_t pending_workers() const { return workers_.pending(); }

    // Events were lost: every namespace's next finding may be incomplete.
    void mark_incomplete() { table_.mark_incomplete(); }
    // argv read from /proc for a process of the startup snapshot (SnapshotEvent::argv_unknown):
    // taken unless the process has exec'd since, or is gone.
    void set_snapshot_argv(const ProcKey& key, Argv argv, bool truncated) {
        table_.set_snapshot_argv(key, std::move(argv), truncated);
    }
    // Forgets dead namespaces past their grace period.
    void expire(uint64_t now_ns) { table_.expire(now_ns); }
    // After lost events: `live` is a fresh snapshot taken at `taken_ns`. Processes that
    // started before it and are missing from it exited unseen and are forgotten; live ones
    // not tracked yet are added. Returns how many processes were forgotten.
    size_t resync(const std::vector<SnapshotEvent>& live, uint64_t taken_ns) {
        return table_.resync(live, taken_ns);
    }

    // A process whose script a finding may point into: a namespace's init, or the one child
    // an init shim started (its entrypoint). For the script reader, at its exec.
    bool runs_entrypoint(const ProcKey& key) const;

    TrackerStats stats() const;
    const ProcessTable& table() const { return table_; }
    // What is known of a live process (for per-event output), or nullptr.
    const ProcessSummary* summary(const ProcKey& key) const;

private:
    std::optional<Finding> on_exit(const ExitEvent& ev);
    // A stop signal a namespace init ignored: kept on its namespace when it is a container's
    // own init and the sender is outside it (a runtime's stop, not `kill 1` inside).
    void stop_ignored(const SignalEvent& ev);

    TrackerLimits limits_;
    ProcessTable table_;
    KillerLog killers_;
    FindingBuilder builder_;
    WorkerWatch workers_;
    std::vector<Finding> stops_;  // stop_ignored findings, due at once
};

}  // namespace initwatch::model
