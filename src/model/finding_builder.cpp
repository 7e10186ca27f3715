#include "model/finding_builder.h"

#include <algorithm>

namespace initwatch::model {

Finding FindingBuilder::start(const Process& init, Scope scope, const ExitEvent& ev) const {
    Finding f;
    f.ts_ns = ev.ts_ns;
    f.scope = scope;
    static_cast<ProcessSummary&>(f.init) = init.summary;
    f.init.status = ExitStatus::decode(ev.wait_status);
    f.init.ran_ns = ev.ts_ns > init.task.key.start_ns ? ev.ts_ns - init.task.key.start_ns : 0;
    f.severity = severity_of(f.init.status);
    if (f.init.status.signal) f.killed_by = killers_.killer_of(init.task.key, *f.init.status.signal);
    return f;
}

template <typename Classify>
void FindingBuilder::add_live(Finding& f, std::vector<const Process*>& members, uint64_t now_ns,
                              Classify classify, size_t max_listed) const {
    std::sort(members.begin(), members.end(),
              [](const Process* a, const Process* b) { return a->task.key.start_ns < b->task.key.start_ns; });
    f.live_count = members.size();
    f.live.reserve(std::min(members.size(), max_listed));
    for (const Process* p : members) {
        if (f.live.size() < max_listed) {
            LiveProcess lp = live_process(*p, now_ns);
            lp.how = classify(*p, &lp.chain);
            if (lp.how != How::reparented && lp.how != How::descendant)
                lp.started_by.reset();  // init, or outside
            f.live.push_back(std::move(lp));
        } else {
            add_to_groups(f.unlisted, classify(*p, nullptr), p->summary.comm, 1);
        }
    }
}

LiveProcess FindingBuilder::live_process(const Process& p, uint64_t now_ns) const {
    LiveProcess lp;
    static_cast<ProcessSummary&>(lp) = p.summary;
    lp.ppid = p.parent.tgid;
    lp.age_ns = now_ns > p.task.key.start_ns ? now_ns - p.task.key.start_ns : 0;
    lp.sighup_ignored = p.task.sighup_ignored;
    lp.session_leader = p.task.session_leader;
    lp.started_by_dropped = p.started_by_dropped;
    if (const ProcessTable::Exited* e = p.started_by.get()) {
        Starter st;
        static_cast<ProcessSummary&>(st) = e->summary;
        st.status = ExitStatus::decode(e->wait_status);
        st.before_ns = now_ns > e->exit_ns ? now_ns - e->exit_ns : 0;
        lp.started_by = std::move(st);
    } else if (!p.reparented) {
        if (const Process* parent = table_.find(p.parent)) {
            Starter st;
            static_cast<ProcessSummary&>(st) = parent->summary;
            lp.started_by = std::move(st);
        }
    }
    return lp;
}

std::optional<Launch> FindingBuilder::launch_of(const Process& p, const ProcKey& script) const {
    constexpr int kMaxDepth = 64;  // a chain of forks longer than this is no script's doing
    const Process* live = &p;
    const ProcessTable::Exited* exited = nullptr;
    for (int depth = 0; depth < kMaxDepth; ++depth) {
        if (live) {
            const ProcKey parent = live->started_by   ? live->started_by->summary.key
                                   : live->reparented ? ProcKey{}
                                                      : live->parent;
            if (parent == script)
                return Launch{live->summary.argv, live->summary.execed, live->background_index};
            if (live->started_by) {
                exited = live->started_by.get();
                live = nullptr;
            } else if (!(live = table_.find(parent))) {
                return std::nullopt;
            }
        } else {
            if (exited->parent == script)
                return Launch{exited->summary.argv, exited->summary.execed, exited->background_index};
            if (exited->started_by) {
                exited = exited->started_by.get();
            } else if ((live = table_.find(exited->parent))) {
                exited = nullptr;
            } else {
                return std::nullopt;
            }
        }
    }
    return std::nullopt;
}

void FindingBuilder::add_launches(Finding& f, const ProcKey& script) const {
    f.script_process = script;
    for (auto& lp : f.live)
        if (const Process* p = table_.find(lp.key)) lp.launch = launch_of(*p, script);
}

Finding FindingBuilder::init_exit(const Process& init, const Namespace& ns, const ExitEvent& ev) const {
    Finding f = start(init, Scope::pidns, ev);
    f.cgroup_id = ev.task.cgroup_id;
    f.pidns_inum = ns.inum;
    f.origin = table_.container_of(ns);
    f.kernel_ns_pids = ev.ns_pids_allocated;
    f.incomplete = ns.lost_events;

    std::vector<const Process*> members;
    table_.collect_members(ns, members);
    members.erase(std::remove(members.begin(), members.end(), &init), members.end());
    add_live(
        f, members, ev.ts_ns,
        [&](const Process& p, std::vector<uint32_t>* chain) {
            return table_.how_in_namespace(p, init, chain);
        },
        limits_.max_listed);
    if (const ProcessTable::Exited* child = ns.waited_child.get();
        child && ev.ts_ns >= child->exit_ns && ev.ts_ns - child->exit_ns <= kEntrypointWindowNs) {
        ExitedSummary e;
        static_cast<ProcessSummary&>(e) = child->summary;
        e.status = ExitStatus::decode(child->wait_status);
        e.ran_ns = child->exit_ns - child->start_ns;
        e.before_ns = ev.ts_ns - child->exit_ns;
        f.severity = severity_of(e.status);  // what ended is the child; the shim followed
        // The shim exits with a status of its own (128+N): the signal that counts is its child's.
        if (!f.init.status.signal && e.status.signal) f.killed_by = ns.waited_child_killed_by;
        f.entrypoint = std::move(e);
    }
    add_launches(f, f.entrypoint ? f.entrypoint->key : init.task.key);
    if (f.kernel_ns_pids && f.live_count + 1 > f.kernel_ns_pids) {
        f.kernel_disagrees = true;
        f.incomplete = true;
    }
    f.diagnosis = diagnose(f);
    return f;
}

std::optional<Finding> FindingBuilder::main_exit(const Process& main, const ExitEvent& ev) const {
    const ProcessTable::Cgroup* cg = table_.find_cgroup(main.cgroup_id);
    if (!cg) return std::nullopt;
    std::vector<const Process*> members;
    bool programs_left = false;  // forks that never exec'd alone are a runtime's own stages
    for (const ProcKey& key : cg->members)
        if (key != main.task.key)
            if (const Process* p = table_.find(key)) {
                members.push_back(p);
                programs_left |= p->summary.execed;
            }
    if (!programs_left) return std::nullopt;

    Finding f = start(main, Scope::cgroup, ev);
    f.cgroup_id = main.cgroup_id;
    f.pidns_inum = ev.task.pidns_inum;
    const Namespace* ns = table_.find_namespace(main.ns);
    f.incomplete = ns && ns->lost_events;
    add_live(
        f, members, ev.ts_ns,
        [&](const Process& p, std::vector<uint32_t>* chain) { return table_.how_in_cgroup(p, main, chain); },
        limits_.max_listed);
    f.diagnosis = diagnose(f);
    return f;
}

Finding FindingBuilder::stop_ignored(const Process& init, const Namespace& ns, const ExitEvent& ev) const {
    Finding f = start(init, Scope::pidns, ev);
    f.kind = Kind::stop_ignored;
    f.severity = Severity::info;
    f.cgroup_id = ev.task.cgroup_id;
    f.pidns_inum = ns.inum;
    f.origin = table_.container_of(ns);
    f.incomplete = ns.lost_events;
    f.stop = ns.stop;
    f.stop->waited_ns = ev.ts_ns > f.stop->ts_ns ? ev.ts_ns - f.stop->ts_ns : 0;
    f.diagnosis = diagnose(f);
    return f;
}

Finding FindingBuilder::worker_exit(const Process& worker, const Process& init, const Namespace& ns,
                                    const ExitEvent& ev) const {
    Finding f;
    f.kind = Kind::worker_exit;
    f.ts_ns = ev.ts_ns;
    f.scope = Scope::pidns;
    f.cgroup_id = init.task.cgroup_id;
    f.pidns_inum = ns.inum;
    f.origin = table_.container_of(ns);
    f.incomplete = ns.lost_events;
    static_cast<ProcessSummary&>(f.init) = init.summary;
    f.init.ran_ns = ev.ts_ns > init.task.key.start_ns ? ev.ts_ns - init.task.key.start_ns : 0;
    WorkerSummary w;
    static_cast<LiveProcess&>(w) = live_process(worker, ev.ts_ns);
    w.how = table_.how_in_namespace(worker, init, &w.chain);
    if (w.how != How::reparented) w.started_by.reset();  // init
    w.status = ExitStatus::decode(ev.wait_status);
    if (w.status.signal) f.killed_by = killers_.killer_of(worker.task.key, *w.status.signal);
    f.worker = std::move(w);
    std::vector<const Process*> members;
    table_.collect_members(ns, members);
    members.erase(std::remove_if(members.begin(), members.end(),
                                 [&](const Process* m) { return m == &init || m == &worker; }),
                  members.end());
    add_live(
        f, members, ev.ts_ns,
        [&](const Process& m, std::vector<uint32_t>* chain) {
            return table_.how_in_namespace(m, init, chain);
        },
        std::min(limits_.max_listed, kMaxListedBesideWorker));
    add_launches(f, init.task.key);
    f.worker->launch = launch_of(worker, init.task.key);
    f.severity = worker_severity_of(f.worker->status, false, f.killed_by);
    f.diagnosis = diagnose(f);
    return f;
}

}  // namespace initwatch::model
