// Findings made from the process table: what an init's exit left behind, what a container's
// main process left in its cgroup, the worker whose end a WorkerWatch holds, and the init that
// ignored its stop signal. Reads the table, changes nothing.
#pragma once

#include <optional>
#include <vector>

#include "model/finding.h"
#include "model/killer_log.h"
#include "model/process_table.h"

namespace initwatch::model {

class FindingBuilder {
public:
    using Process = ProcessTable::Process;
    using Namespace = ProcessTable::Namespace;

    // init exiting this soon after the child it waited for: an init shim (tini, dumb-init).
    static constexpr uint64_t kEntrypointWindowNs = 1'000'000'000ULL;
    // The processes a worker_exit finding lists beside its worker.
    static constexpr size_t kMaxListedBesideWorker = 32;

    FindingBuilder(const ProcessTable& table, const KillerLog& killers, const TrackerLimits& limits)
        : table_(table), killers_(killers), limits_(limits) {}

    // A namespace's init exited: every process of it (and of namespaces nested in it) still
    // alive, how each got there, and the entrypoint it waited for when it is a shim. The
    // finding is worth reporting when live_count > 0.
    Finding init_exit(const Process& init, const Namespace& ns, const ExitEvent& ev) const;
    // The main process of a container without a namespace of its own exited: what else of its
    // cgroup still runs. nullopt when no program is left (a runtime's own stage).
    std::optional<Finding> main_exit(const Process& main, const ExitEvent& ev) const;
    // A worker of a living init ended.
    Finding worker_exit(const Process& worker, const Process& init, const Namespace& ns,
                        const ExitEvent& ev) const;
    // A container's init that ignored its stop signal (ns.stop) ended by SIGKILL.
    Finding stop_ignored(const Process& init, const Namespace& ns, const ExitEvent& ev) const;

private:
    Finding start(const Process& init, Scope scope, const ExitEvent& ev) const;
    // Lists the first max_listed members (ordered by start time) and counts the rest.
    template <typename Classify>
    void add_live(Finding& f, std::vector<const Process*>& members, uint64_t now_ns, Classify classify,
                  size_t max_listed) const;
    LiveProcess live_process(const Process& p, uint64_t now_ns) const;
    // What `script` (the process whose script started it all) started that led to `p`: p, or
    // its ancestor; nullopt when p does not descend from it (or the lineage is not known).
    std::optional<Launch> launch_of(const Process& p, const ProcKey& script) const;
    // Sets f.script_process and each listed process's launch.
    void add_launches(Finding& f, const ProcKey& script) const;

    const ProcessTable& table_;
    const KillerLog& killers_;
    const TrackerLimits& limits_;
};

}  // namespace initwatch::model
