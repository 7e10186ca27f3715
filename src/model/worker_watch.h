// The worker that dies while init lives on: a long-lived process init started (or that was
// reparented to init) ends, and the container stays Running without it. Its finding waits
// kRestartWindowNs for a supervisor to start the same command again (then it is info); a
// script's own steps and daemons it stops are no workers. Bounded and fair: one finding per
// namespace and window (later ends counted in it), at most kMaxPendingPerContainer held per
// container and kMaxPending in all, a container over its share giving way to one under it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "model/finding.h"
#include "model/finding_builder.h"
#include "model/process_table.h"

namespace initwatch::model {

class WorkerWatch {
public:
    using Process = ProcessTable::Process;
    using Namespace = ProcessTable::Namespace;

    static constexpr uint64_t kRestartWindowNs = model::kRestartWindowNs;
    static constexpr size_t kMaxPending = 64;
    static constexpr size_t kMaxPendingPerContainer = 4;

    WorkerWatch(const ProcessTable& table, const FindingBuilder& builder, const TrackerLimits& limits)
        : table_(table), builder_(builder), limits_(limits) {}

    // A child of a living namespace init ended (before the table forgets it).
    void child_ended(const Process& p, const Process& init, const Namespace& ns, const ExitEvent& ev);
    // init itself ended: its workers' findings are due now, except the ends its own exit tells of.
    void init_exited(const ProcKey& ns, const ExitStatus& init_status, uint64_t ts_ns);
    // A process exec'd: init starting a worker's command again is a supervisor's restart.
    void exec_seen(const Process& p);

    // Moves the findings due by now_ns (CLOCK_MONOTONIC) to `out`; UINT64_MAX: all of them.
    void take_due(uint64_t now_ns, std::vector<Finding>& out);
    size_t pending() const { return pending_.size(); }
    // Findings not made or given up: more were held than the bounds allow.
    uint64_t dropped() const { return dropped_; }

private:
    struct Pending {
        Finding finding;
        ProcKey ns;
        ProcKey container;  // ProcessTable::container_of: the fairness key
        uint64_t due_ns = 0;
        // init may have been waiting for it (a script's foreground step: init did nothing
        // else while it ran), or it ended cleanly leaving init alone (a daemon stopped on
        // request): if init goes on (forks or execs) within the window without starting it
        // again, the script is at work, and the finding is dropped.
        bool dropped_if_init_goes_on = false;
        uint32_t init_activity = 0;  // init's activity at the worker's end
    };
    // Whether a held finding is a script's step after all (see dropped_if_init_goes_on).
    bool was_a_step(const Pending& w) const;
    // Room for one more of `container`'s findings: false when it has its share, or when all
    // are held and no container holds more than it would.
    bool make_room(const ProcKey& container);

    const ProcessTable& table_;
    const FindingBuilder& builder_;
    const TrackerLimits& limits_;
    std::vector<Pending> pending_;
    uint64_t dropped_ = 0;
};

}  // namespace initwatch::model
