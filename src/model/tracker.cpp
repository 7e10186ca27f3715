#include "model/tracker.h"

#include <csignal>

namespace initwatch::model {

Tracker::Tracker(TrackerLimits limits)
    : limits_(limits),
      table_(limits_),
      killers_(table_),
      builder_(table_, killers_, limits_),
      workers_(table_, builder_, limits_) {}

std::optional<Finding> Tracker::apply(const Event& event) {
    if (const auto* fork = std::get_if<ForkEvent>(&event)) {
        const ProcessTable::Process* parent = table_.find(fork->task.parent);
        Argv argv;  // its parent's until it execs: shared, not copied
        if (parent) argv = parent->summary.argv;
        table_.track(fork->task, std::move(argv), false);
    } else if (const auto* snap = std::get_if<SnapshotEvent>(&event)) {
        table_.add_snapshot(*snap);
    } else if (const auto* exec = std::get_if<ExecEvent>(&event)) {
        if (const ProcessTable::Process* p = table_.exec(*exec)) workers_.exec_seen(*p);
    } else if (const auto* exit = std::get_if<ExitEvent>(&event)) {
        auto finding = on_exit(*exit);
        killers_.forget(exit->task.key);
        return finding;
    } else if (const auto* signal = std::get_if<SignalEvent>(&event)) {
        if (signal->ignored)
            stop_ignored(*signal);
        else
            killers_.signal(*signal);
    } else if (const auto* oom = std::get_if<OomEvent>(&event)) {
        killers_.oom(*oom);
    }
    return std::nullopt;
}

void Tracker::stop_ignored(const SignalEvent& ev) {
    const ProcessTable::Process* p = table_.find(ev.task.key);
    if (!p) return;
    ProcessTable::Namespace* ns = table_.find_namespace(p->ns);
    if (!ns || ns->init != ev.task.key || ns->stop || table_.container_of(*ns) != ns->init) return;
    KilledBy sender = killers_.sender_of(ev);
    if (sender.kind != KilledBy::Sender::process || sender.same_namespace) return;
    ns->stop = IgnoredStop{ev.ts_ns, std::move(sender), 0};
}

void Tracker::take_due(uint64_t now_ns, std::vector<Finding>& out) {
    for (auto& f : stops_) out.push_back(std::move(f));
    stops_.clear();
    workers_.take_due(now_ns, out);
}

std::optional<Finding> Tracker::on_exit(const ExitEvent& ev) {
    ProcessTable::Process* found = table_.find(ev.task.key);
    if (!found) return std::nullopt;
    table_.number_background_fork(*found);  // it ends: its last fork was not waited for
    const ProcessTable::Process& p = *found;

    std::optional<Finding> finding;
    ProcKey reaper;  // unknown outside a namespace: the host's init or a subreaper
    bool ns_init = false;
    ProcessTable::ExitedRef exited;  // remembered once, for every process that will point to it
    if (ProcessTable::Namespace* ns = table_.find_namespace(p.ns)) {
        if (ns->init == p.task.key) {
            ns_init = true;
            Finding f = builder_.init_exit(p, *ns, ev);
            workers_.init_exited(ns->init, f.init.status, ev.ts_ns);
            if (ns->stop && f.init.status.signal == SIGKILL)
                stops_.push_back(builder_.stop_ignored(p, *ns, ev));
            if (f.live_count) finding = std::move(f);
            table_.mark_init_exited(*ns, ev.ts_ns);
        } else if (!ns->init_exited) {
            reaper = ns->init;
            if (p.parent == ns->init)
                if (const ProcessTable::Process* init = table_.find(ns->init)) {
                    // The child a wrapper waits for: the only child init had started that
                    // still ran (the orphans the kernel gave it do not count).
                    if (!p.reparented && init->started_children == 1 && (exited = table_.remember(p, ev))) {
                        ns->waited_child = exited;
                        const ExitStatus status = ExitStatus::decode(ev.wait_status);
                        ns->waited_child_killed_by.reset();
                        if (status.signal)
                            ns->waited_child_killed_by = killers_.killer_of(p.task.key, *status.signal);
                    }
                    workers_.child_ended(p, *init, *ns, ev);
                }
        }
    }
    // Its children are reparented: they keep who started them.
    if (!p.children.empty() && !exited) exited = table_.remember(p, ev);
    table_.hand_starter(p, exited);
    // A main process that is also a namespace init is the namespace's finding, not a second one.
    if (!ns_init && p.cgroup_id)
        if (ProcessTable::Cgroup* cg = table_.find_cgroup(p.cgroup_id); cg && cg->main == p.task.key) {
            finding = builder_.main_exit(p, ev);
            // Leaving no program behind, it was a runtime's stage (runc's `runc init`, whose
            // clones go on to exec the entrypoint): the real main process is still to come.
            if (finding)
                cg->reported = true;
            else
                cg->main.reset();
        }
    table_.forget(ev.task.key, reaper);
    return finding;
}

bool Tracker::runs_entrypoint(const ProcKey& key) const {
    const ProcessTable::Process* p = table_.find(key);
    if (!p || !p->ns) return false;
    const ProcessTable::Namespace* ns = table_.find_namespace(p->ns);
    if (!ns || ns->init_exited) return false;
    if (ns->init == key) return true;
    if (p->parent != ns->init || p->reparented) return false;
    const ProcessTable::Process* init = table_.find(ns->init);
    return init && init->started_children == 1;
}

TrackerStats Tracker::stats() const {
    TrackerStats st;
    st.processes = table_.processes();
    st.namespaces = table_.namespaces();
    st.cgroups = table_.cgroups_with_main();
    st.untracked = table_.untracked();
    st.argv_dropped = table_.argv_dropped();
    st.starters_dropped = table_.starters_dropped();
    st.workers_dropped = workers_.dropped();
    st.memory_bytes = table_.memory_bytes();
    st.list_searches = table_.list_searches();
    st.killers_refused = killers_.refused();
    return st;
}

const ProcessSummary* Tracker::summary(const ProcKey& key) const {
    const ProcessTable::Process* p = table_.find(key);
    return p ? &p->summary : nullptr;
}

}  // namespace initwatch::model
