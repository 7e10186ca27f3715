#include "model/tracker.h"

#include <algorithm>
#include <csignal>

namespace initwatch::model {

namespace {

template <typename T>
void erase_value(std::vector<T>& v, const T& value) {
    v.erase(std::remove(v.begin(), v.end(), value), v.end());
}

constexpr size_t kMaxChainDepth = 64;

}  // namespace

Tracker::Tracker(TrackerLimits limits) : limits_(limits) {}

std::optional<Finding> Tracker::apply(const Event& event) {
    if (const auto* fork = std::get_if<ForkEvent>(&event)) {
        const auto parent = procs_.find(fork->task.parent);
        Argv argv;  // its parent's until it execs: shared, not copied
        if (parent != procs_.end()) argv = parent->second.summary.argv;
        track(fork->task, fork->ts_ns, std::move(argv), false);
    } else if (const auto* snap = std::get_if<SnapshotEvent>(&event)) {
        bool dropped = false;
        Argv argv = within_budget(snap->argv, dropped);
        if (Process* p = track(snap->task, snap->ts_ns, std::move(argv), true)) {
            p->summary.argv_truncated = snap->argv_truncated;
            p->summary.argv_dropped = dropped;
            p->summary.argv_unknown = snap->argv_unknown;
        }
    } else if (const auto* exec = std::get_if<ExecEvent>(&event)) {
        on_exec(*exec);
    } else if (const auto* exit = std::get_if<ExitEvent>(&event)) {
        return on_exit(*exit);
    }
    return std::nullopt;
}

Tracker::Process* Tracker::track(const TaskInfo& task, uint64_t /*ts_ns*/,
                                 Argv argv, bool from_snapshot) {
    if (auto it = procs_.find(task.key); it != procs_.end()) return &it->second;  // seen twice
    const auto parent_it = procs_.find(task.parent);
    Process* parent = parent_it == procs_.end() ? nullptr : &parent_it->second;
    if ((limits_.max_processes && procs_.size() >= limits_.max_processes) ||
        memory_bytes() >= limits_.max_memory_bytes) {
        ++untracked_;
        if (Namespace* ns = find_namespace(existing_namespace(task, parent))) ns->lost_events = true;
        return nullptr;
    }
    const std::optional<ProcKey> ns = namespace_for(task, parent);

    Process p;
    p.task = task;
    p.parent = task.parent;
    p.ns = ns;
    p.summary.pid = task.key.tgid;
    p.summary.ns_pid = task.ns_pid;
    p.summary.comm = task.comm;
    p.summary.argv = std::move(argv);
    p.summary.argv_truncated = parent && !from_snapshot && parent->summary.argv_truncated;
    p.summary.from_snapshot = from_snapshot;
    p.summary.execed = from_snapshot;  // a snapshot's argv is its own
    // A namespace's own lineage starts at its init; a parent outside it (setns) enters it. A
    // fork whose parent was never seen is counted as entered: its lineage is unknown. The
    // startup snapshot's order says nothing, so there an unknown parent is not held against it.
    if (ns && task.ns_pid != 1) p.entered = parent ? parent->ns != ns || parent->entered : !from_snapshot;
    Process& inserted = procs_.emplace(task.key, std::move(p)).first->second;
    if (parent) {
        list_add(parent->children, inserted, &Process::child_slot);
        ++parent->started_children;
        inserted.parent_activity = ++parent->activity;
    }
    if (Namespace* n = find_namespace(ns)) {
        list_add(n->members, inserted, &Process::ns_slot);
        if (n->init == task.parent) n->waited_child.reset();  // init started another child
    }
    join_cgroup(inserted, task.cgroup_id);
    return &inserted;
}

void Tracker::list_add(std::vector<ProcKey>& list, Process& p, Slot slot) {
    p.*slot = static_cast<uint32_t>(list.size());
    list.push_back(p.task.key);
}

// O(1): the last entry takes the leaving one's place, and its slot is updated.
void Tracker::list_remove(std::vector<ProcKey>& list, const Process& p, Slot slot) {
    size_t i = p.*slot;
    if (i >= list.size() || list[i] != p.task.key) {  // never expected: search rather than corrupt
        ++list_searches_;
        i = static_cast<size_t>(std::find(list.begin(), list.end(), p.task.key) - list.begin());
        if (i == list.size()) return;
    }
    if (i + 1 != list.size()) {
        list[i] = list.back();
        if (auto moved = procs_.find(list[i]); moved != procs_.end()) moved->second.*slot = static_cast<uint32_t>(i);
    }
    list.pop_back();
}

size_t Tracker::bytes_per_process() {
    // Its node in the table (key, value, the next pointer and cached hash of libstdc++'s
    // nodes), a bucket, and its entries in the parent's, namespace's and cgroup's lists
    // (vectors grow by doubling: twice an entry).
    return sizeof(std::pair<const ProcKey, Process>) + 3 * sizeof(void*) + 3 * 2 * sizeof(ProcKey);
}

size_t Tracker::bytes_per_exited() {
    // The record and shared_ptr's control block (with its deleter) in one allocation's
    // worth; comm fits std::string's inline buffer (TASK_COMM_LEN is 16).
    return sizeof(Exited) + 4 * sizeof(void*);
}

size_t Tracker::memory_bytes() const {
    constexpr size_t kPerGroup = 256;  // a namespace or cgroup entry, beside its members' list entries
    return procs_.size() * bytes_per_process() + (namespaces_.size() + cgroups_.size()) * kPerGroup +
           exited_records_ * bytes_per_exited() + Argv::live_bytes();
}

// Within the byte budget, or not at all (the caller says what fell out).
Tracker::ExitedRef Tracker::remember(const Process& p, const ExitEvent& ev) {
    if (memory_bytes() + bytes_per_exited() > limits_.max_memory_bytes) return nullptr;
    ++exited_records_;
    size_t* count = &exited_records_;
    return ExitedRef(new Exited{p.summary, ev.wait_status, p.task.key.start_ns, ev.ts_ns},
                     [count](const Exited* e) {
                         --*count;
                         delete e;
                     });
}

Argv Tracker::within_budget(Argv argv, bool& dropped) {
    dropped = false;
    if (argv.bytes().size() <= kDroppedArgvBytes || memory_bytes() <= limits_.max_memory_bytes / 2)
        return argv;
    dropped = true;
    ++argv_dropped_;
    return argv.prefix(kDroppedArgvBytes);
}

void Tracker::set_snapshot_argv(const ProcKey& key, Argv argv, bool truncated) {
    auto it = procs_.find(key);
    if (it == procs_.end() || !it->second.summary.argv_unknown) return;
    ProcessSummary& s = it->second.summary;
    s.argv = within_budget(std::move(argv), s.argv_dropped);
    s.argv_truncated = truncated;
    s.argv_unknown = false;
}

// The root cgroup (id 1) holds every host process on many machines: it is no container.
void Tracker::join_cgroup(Process& p, uint64_t cgroup_id) {
    if (p.cgroup_id == cgroup_id) return;
    leave_cgroup(p);
    p.cgroup_id = cgroup_id > 1 ? cgroup_id : 0;
    if (p.cgroup_id) list_add(cgroups_[p.cgroup_id].members, p, &Process::cgroup_slot);
}

void Tracker::leave_cgroup(const Process& p) {
    auto cg = cgroups_.find(p.cgroup_id);
    if (cg == cgroups_.end()) return;
    list_remove(cg->second.members, p, &Process::cgroup_slot);
    if (cg->second.members.empty()) cgroups_.erase(cg);
}

// A child lives in its parent's namespace, or is the init of a new one, or joined an
// existing one from outside (setns). Inode numbers are reused quickly, so they only
// name namespaces whose init is alive.
std::optional<ProcKey> Tracker::namespace_for(const TaskInfo& task, const Process* parent) {
    if (task.ns_level == 0) return std::nullopt;
    if (task.ns_pid != 1) return existing_namespace(task, parent);
    // A record of an init seen before (the kernel never sends one; a bad record might) keeps
    // the namespace its members point to.
    if (namespaces_.count(task.key)) return task.key;
    Namespace ns;
    ns.init = task.key;
    ns.inum = task.pidns_inum;
    if (Namespace* outer = parent ? find_namespace(parent->ns) : nullptr) {
        ns.outer = parent->ns;
        outer->nested.push_back(task.key);
    }
    namespaces_[task.key] = std::move(ns);
    live_ns_by_inum_[task.pidns_inum] = task.key;
    return task.key;
}

std::optional<ProcKey> Tracker::existing_namespace(const TaskInfo& task, const Process* parent) const {
    if (task.ns_level == 0) return std::nullopt;
    if (parent && parent->ns && parent->task.pidns_inum == task.pidns_inum) return parent->ns;
    if (auto it = live_ns_by_inum_.find(task.pidns_inum); it != live_ns_by_inum_.end()) return it->second;
    return std::nullopt;
}

Tracker::Namespace* Tracker::find_namespace(const std::optional<ProcKey>& init) {
    if (!init) return nullptr;
    auto it = namespaces_.find(*init);
    return it == namespaces_.end() ? nullptr : &it->second;
}

void Tracker::on_exec(const ExecEvent& ev) {
    Process* p = nullptr;
    if (auto it = procs_.find(ev.task.key); it != procs_.end())
        p = &it->second;
    else
        p = track(ev.task, ev.ts_ns, {}, false);  // its fork was not seen
    if (!p) return;
    p->task = ev.task;
    p->summary.comm = ev.task.comm;
    p->summary.argv = Argv();  // the old one is no longer this process's to count
    p->summary.argv = within_budget(ev.argv, p->summary.argv_dropped);
    p->summary.argv_truncated = ev.argv_truncated;
    p->summary.argv_unknown = false;
    p->summary.execed = true;
    ++p->activity;
    join_cgroup(*p, ev.task.cgroup_id);
    if (!pending_.empty()) restarted_by_init(*p);

    // A container's main process: the first program exec'd in its cgroup by a parent that is
    // outside it (the runtime's shim), or that is a runtime stage that never exec'd there.
    if (!p->cgroup_id) return;
    Cgroup& cg = cgroups_.at(p->cgroup_id);
    if (cg.main || cg.reported) return;
    const auto parent = procs_.find(p->parent);
    if (parent == procs_.end() || parent->second.cgroup_id != p->cgroup_id || !parent->second.summary.execed)
        cg.main = p->task.key;
}

std::optional<Finding> Tracker::on_exit(const ExitEvent& ev) {
    auto it = procs_.find(ev.task.key);
    if (it == procs_.end()) return std::nullopt;
    Process& p = it->second;

    std::optional<Finding> finding;
    ProcKey reaper;  // unknown outside a namespace: the host's init or a subreaper
    bool ns_init = false;
    ExitedRef exited;  // remembered once, for every process that will point to it
    if (Namespace* found = find_namespace(p.ns)) {
        Namespace& ns = *found;
        if (ns.init == p.task.key) {
            ns_init = true;
            Finding f = build_finding(p, ns, ev);
            if (!pending_.empty()) init_exited_with_workers(ns.init, f.init.status, ev.ts_ns);
            if (f.live_count) finding = std::move(f);
            mark_init_exited(ns, ev.ts_ns);
        } else if (!ns.init_exited) {
            reaper = ns.init;
            if (p.parent == ns.init)
                if (auto init = procs_.find(ns.init); init != procs_.end()) {
                    // The child a wrapper waits for: the only child init had started that
                    // still ran (the orphans the kernel gave it do not count).
                    if (!p.reparented && init->second.started_children == 1 && (exited = remember(p, ev)))
                        ns.waited_child = exited;
                    worker_exited(p, init->second, ns, ev);
                }
        }
    }
    // Its children are reparented: they keep who started them.
    if (!p.children.empty() && !exited) exited = remember(p, ev);
    for (const ProcKey& child_key : p.children)
        if (auto child = procs_.find(child_key);
            child != procs_.end() && !child->second.started_by && !child->second.started_by_dropped) {
            child->second.started_by = exited;
            child->second.started_by_dropped = !exited;
            starters_dropped_ += !exited;
        }
    // A main process that is also a namespace init is the namespace's finding, not a second one.
    if (!ns_init && p.cgroup_id) {
        Cgroup& cg = cgroups_.at(p.cgroup_id);
        if (cg.main == p.task.key) {
            finding = cgroup_finding(p, ev);
            // Leaving no program behind, it was a runtime's stage (runc's `runc init`, whose
            // clones go on to exec the entrypoint): the real main process is still to come.
            if (finding)
                cg.reported = true;
            else
                cg.main.reset();
        }
    }
    forget(ev.task.key, reaper);
    return finding;
}

// A worker of a living init ended: a finding when it crashed, failed, was killed, or left
// init alone, held kRestartWindowNs for a supervisor to start it again.
void Tracker::worker_exited(const Process& p, const Process& init, const Namespace& ns, const ExitEvent& ev) {
    if (p.entered || ev.ts_ns < p.task.key.start_ns ||
        ev.ts_ns - p.task.key.start_ns < limits_.worker_min_age_ns)
        return;
    const ExitStatus status = ExitStatus::decode(ev.wait_status);
    const bool alone = ns.members.size() == 2 && ns.nested.empty();  // init and this one
    if (!status.signal && !status.exit_code.value_or(0) && !alone) return;
    // One finding per namespace and window: a container that kills ten thousand workers at
    // once makes one finding that counts the others, not ten thousand of 200 processes each.
    for (auto& w : pending_)
        if (w.ns == ns.init && w.due_ns > ev.ts_ns) {
            ++w.finding.other_workers_ended;
            return;
        }
    if (pending_.size() >= kMaxPendingWorkers) {  // that many containers' workers in 3 s
        ++workers_dropped_;
        return;
    }

    Finding f;
    f.kind = Kind::worker_exit;
    f.ts_ns = ev.ts_ns;
    f.scope = Scope::pidns;
    f.cgroup_id = init.task.cgroup_id;
    f.pidns_inum = ns.inum;
    f.incomplete = ns.lost_events;
    static_cast<ProcessSummary&>(f.init) = init.summary;
    f.init.ran_ns = ev.ts_ns > init.task.key.start_ns ? ev.ts_ns - init.task.key.start_ns : 0;
    WorkerSummary w;
    static_cast<LiveProcess&>(w) = live_process(p, ev.ts_ns);
    w.how = how_in_namespace(p, init, &w.chain);
    if (w.how != How::reparented) w.started_by.reset();  // init
    w.status = status;
    f.worker = std::move(w);
    std::vector<const Process*> members;
    collect_members(ns, members);
    members.erase(std::remove_if(members.begin(), members.end(),
                                 [&](const Process* m) { return m == &init || m == &p; }),
                  members.end());
    add_live(
        f, members, ev.ts_ns,
        [&](const Process& m, std::vector<uint32_t>* chain) { return how_in_namespace(m, init, chain); },
        std::min(limits_.max_listed, kMaxListedBesideWorker));
    f.severity = worker_severity_of(status, false);
    f.diagnosis = diagnose(f);
    // A script's foreground step (init did nothing else while it ran), or a daemon that ended
    // cleanly and left init alone (`pg_ctl stop` asked it to, and pg_ctl returned first): if
    // init goes on (forks or execs) within the window, the script is still at work.
    const bool maybe_foreground = !p.reparented && p.parent_activity == init.activity;
    const bool dropped_if_init_goes_on = maybe_foreground || (!status.signal && status.exit_code.value_or(0) == 0);
    pending_.push_back(
        PendingWorker{std::move(f), ns.init, ev.ts_ns + kRestartWindowNs, dropped_if_init_goes_on, init.activity});
}

// init itself ended: its workers' findings are due now, except the ends its own exit tells
// of: a worker whose end init followed at once (a wrapper waiting for it: the init_exit
// finding names it), and the deaths that were part of a stop (a runtime that kills the whole
// cgroup kills the workers a moment before init).
void Tracker::init_exited_with_workers(const ProcKey& ns, const ExitStatus& init_status, uint64_t ts_ns) {
    const auto found = procs_.find(ns);
    const Process* init = found == procs_.end() ? nullptr : &found->second;
    const auto stop = [](const ExitStatus& s) {
        return s.signal && (*s.signal == SIGKILL || *s.signal == SIGTERM || *s.signal == SIGINT);
    };
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const PendingWorker& w) {
                                      if (w.ns != ns) return false;
                                      const bool followed = ts_ns >= w.finding.ts_ns &&
                                                            ts_ns - w.finding.ts_ns <= kEntrypointWindowNs;
                                      return followed || (stop(init_status) && stop(w.finding.worker->status)) ||
                                             was_a_step(w, init);
                                  }),
                   pending_.end());
    for (auto& w : pending_)
        if (w.ns == ns) w.due_ns = 0;
}

// init exec'd a new child with a worker's command line: a supervisor restarting it.
void Tracker::restarted_by_init(const Process& p) {
    const auto found = p.ns ? namespaces_.find(*p.ns) : namespaces_.end();
    if (found == namespaces_.end() || found->second.init != p.parent || p.reparented) return;
    const Namespace* ns = &found->second;
    const auto init = procs_.find(ns->init);
    if (init == procs_.end()) return;
    for (auto& w : pending_)
        if (w.ns == ns->init && !w.finding.restarted && w.finding.worker->argv == p.summary.argv &&
            // A step init may have waited for is restarted only if starting it again was the
            // next thing init did (a script that runs `id -u` twice is no supervisor).
            (!w.dropped_if_init_goes_on || init->second.activity == w.init_activity + 1)) {
            w.finding.restarted = true;
            w.finding.severity = worker_severity_of(w.finding.worker->status, true);
            w.finding.diagnosis = diagnose(w.finding);
            w.due_ns = 0;
            return;
        }
}

bool Tracker::was_a_step(const PendingWorker& w, const Process* init) const {
    return w.dropped_if_init_goes_on && !w.finding.restarted && init && init->activity != w.init_activity;
}

void Tracker::take_due(uint64_t now_ns, std::vector<Finding>& out) {
    auto due = std::stable_partition(pending_.begin(), pending_.end(),
                                     [&](const PendingWorker& w) { return w.due_ns <= now_ns; });
    for (auto it = pending_.begin(); it != due; ++it) {
        const auto init = procs_.find(it->ns);
        if (!was_a_step(*it, init == procs_.end() ? nullptr : &init->second)) out.push_back(std::move(it->finding));
    }
    pending_.erase(pending_.begin(), due);
}

Finding Tracker::start_finding(const Process& init, Scope scope, const ExitEvent& ev) const {
    Finding f;
    f.ts_ns = ev.ts_ns;
    f.scope = scope;
    static_cast<ProcessSummary&>(f.init) = init.summary;
    f.init.status = ExitStatus::decode(ev.wait_status);
    f.init.ran_ns = ev.ts_ns > init.task.key.start_ns ? ev.ts_ns - init.task.key.start_ns : 0;
    f.severity = severity_of(f.init.status);
    return f;
}

template <typename Classify>
void Tracker::add_live(Finding& f, std::vector<const Process*>& members, uint64_t now_ns, Classify classify,
                       size_t max_listed) const {
    if (!max_listed) max_listed = limits_.max_listed;
    std::sort(members.begin(), members.end(), [](const Process* a, const Process* b) {
        return a->task.key.start_ns < b->task.key.start_ns;
    });
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

// Walks current parents up to init; leaving the namespace means it was entered.
How Tracker::how_in_namespace(const Process& p, const Process& init, std::vector<uint32_t>* chain) const {
    bool outside = false;
    size_t depth = 0;
    ProcKey cur = p.parent;
    while (cur != init.task.key && depth < kMaxChainDepth) {
        const auto parent = procs_.find(cur);
        if (parent == procs_.end() || !parent->second.ns) {
            outside = true;
            break;
        }
        if (chain) chain->push_back(cur.tgid);
        ++depth;
        cur = parent->second.parent;
    }
    if (outside) return How::entered;
    if (chain) chain->push_back(init.task.key.tgid);
    if (p.parent == init.task.key) return p.reparented ? How::reparented : How::background;
    return How::descendant;
}

How Tracker::how_in_cgroup(const Process& p, const Process& main, std::vector<uint32_t>* chain) const {
    bool reached_main = false;
    size_t depth = 0;
    ProcKey cur = p.parent;
    while (depth < kMaxChainDepth) {
        const auto parent = procs_.find(cur);
        if (parent == procs_.end() || parent->second.cgroup_id != main.cgroup_id) break;
        if (chain) chain->push_back(cur.tgid);
        ++depth;
        if (cur == main.task.key) {
            reached_main = true;
            break;
        }
        cur = parent->second.parent;
    }
    if (p.parent == main.task.key) return How::background;
    if (p.reparented) return How::reparented;
    return reached_main ? How::descendant : How::entered;
}

Finding Tracker::build_finding(const Process& init, const Namespace& ns, const ExitEvent& ev) const {
    Finding f = start_finding(init, Scope::pidns, ev);
    f.cgroup_id = ev.task.cgroup_id;
    f.pidns_inum = ns.inum;
    f.kernel_ns_pids = ev.ns_pids_allocated;
    f.incomplete = ns.lost_events;

    std::vector<const Process*> members;
    collect_members(ns, members);
    members.erase(std::remove(members.begin(), members.end(), &init), members.end());
    add_live(f, members, ev.ts_ns,
             [&](const Process& p, std::vector<uint32_t>* chain) { return how_in_namespace(p, init, chain); });
    if (const Exited* child = ns.waited_child.get();
        child && ev.ts_ns >= child->exit_ns && ev.ts_ns - child->exit_ns <= kEntrypointWindowNs) {
        ExitedSummary e;
        static_cast<ProcessSummary&>(e) = child->summary;
        e.status = ExitStatus::decode(child->wait_status);
        e.ran_ns = child->exit_ns - child->start_ns;
        e.before_ns = ev.ts_ns - child->exit_ns;
        f.severity = severity_of(e.status);  // what ended is the child; the shim followed
        f.entrypoint = std::move(e);
    }
    if (f.kernel_ns_pids && f.live_count + 1 > f.kernel_ns_pids) {
        f.kernel_disagrees = true;
        f.incomplete = true;
    }
    f.diagnosis = diagnose(f);
    return f;
}

LiveProcess Tracker::live_process(const Process& p, uint64_t now_ns) const {
    LiveProcess lp;
    static_cast<ProcessSummary&>(lp) = p.summary;
    lp.ppid = p.parent.tgid;
    lp.age_ns = now_ns > p.task.key.start_ns ? now_ns - p.task.key.start_ns : 0;
    lp.sighup_ignored = p.task.sighup_ignored;
    lp.session_leader = p.task.session_leader;
    lp.started_by_dropped = p.started_by_dropped;
    if (const Exited* e = p.started_by.get()) {
        Starter st;
        static_cast<ProcessSummary&>(st) = e->summary;
        st.status = ExitStatus::decode(e->wait_status);
        st.before_ns = now_ns > e->exit_ns ? now_ns - e->exit_ns : 0;
        lp.started_by = std::move(st);
    } else if (!p.reparented) {
        if (auto parent = procs_.find(p.parent); parent != procs_.end()) {
            Starter st;
            static_cast<ProcessSummary&>(st) = parent->second.summary;
            lp.started_by = std::move(st);
        }
    }
    return lp;
}

// The main process of a container without a pid namespace of its own exited: what else of
// its cgroup still runs, and how it relates to the main process.
std::optional<Finding> Tracker::cgroup_finding(const Process& main, const ExitEvent& ev) const {
    const Cgroup& cg = cgroups_.at(main.cgroup_id);
    std::vector<const Process*> members;
    bool programs_left = false;  // forks that never exec'd alone are a runtime's own stages
    for (const ProcKey& key : cg.members)
        if (key != main.task.key)
            if (auto it = procs_.find(key); it != procs_.end()) {
                members.push_back(&it->second);
                programs_left |= it->second.summary.execed;
            }
    if (!programs_left) return std::nullopt;

    Finding f = start_finding(main, Scope::cgroup, ev);
    f.cgroup_id = main.cgroup_id;
    f.pidns_inum = ev.task.pidns_inum;
    const auto ns = main.ns ? namespaces_.find(*main.ns) : namespaces_.end();
    f.incomplete = ns != namespaces_.end() && ns->second.lost_events;
    add_live(f, members, ev.ts_ns,
             [&](const Process& p, std::vector<uint32_t>* chain) { return how_in_cgroup(p, main, chain); });
    f.diagnosis = diagnose(f);
    return f;
}

// Members of the namespace and of every namespace nested in it: the kernel kills them all.
void Tracker::collect_members(const Namespace& ns, std::vector<const Process*>& out) const {
    for (const ProcKey& key : ns.members)
        if (auto it = procs_.find(key); it != procs_.end()) out.push_back(&it->second);
    for (const ProcKey& nested : ns.nested)
        if (auto it = namespaces_.find(nested); it != namespaces_.end())
            collect_members(it->second, out);
}

// Removes an exited process; its live children now belong to `reaper`.
void Tracker::forget(const ProcKey& key, const ProcKey& reaper) {
    auto it = procs_.find(key);
    Process& p = it->second;
    // A process cannot inherit its own children (the key of "no reaper" may name a process
    // in a hostile or corrupt stream); the list is moved out so that no insertion below can
    // move it while it is read.
    auto reaper_it = reaper == key ? procs_.end() : procs_.find(reaper);
    const std::vector<ProcKey> children = std::move(p.children);
    p.children.clear();
    for (const ProcKey& child_key : children) {
        auto child = procs_.find(child_key);
        if (child == procs_.end()) continue;
        child->second.parent = reaper == key ? ProcKey{} : reaper;
        child->second.reparented = true;
        if (reaper_it != procs_.end()) list_add(reaper_it->second.children, child->second, &Process::child_slot);
    }
    if (auto parent = procs_.find(p.parent); parent != procs_.end()) {
        list_remove(parent->second.children, p, &Process::child_slot);
        if (!p.reparented && parent->second.started_children) --parent->second.started_children;
    }
    leave_cgroup(p);
    const std::optional<ProcKey> ns_key = p.ns;
    auto ns = ns_key ? namespaces_.find(*ns_key) : namespaces_.end();
    if (ns != namespaces_.end()) list_remove(ns->second.members, p, &Process::ns_slot);
    procs_.erase(it);

    if (ns == namespaces_.end()) return;
    if (ns->second.init_exited && ns->second.members.empty() && ns->second.nested.empty())
        erase_namespace(*ns_key);
}

// Its inode may name another namespace from now on.
void Tracker::forget_inum(const Namespace& ns) {
    if (auto by_inum = live_ns_by_inum_.find(ns.inum); by_inum != live_ns_by_inum_.end() && by_inum->second == ns.init)
        live_ns_by_inum_.erase(by_inum);
}

void Tracker::mark_init_exited(Namespace& ns, uint64_t ts_ns) {
    ns.init_exited = true;
    ns.died_ns = ts_ns;
    forget_inum(ns);
}

void Tracker::erase_namespace(const ProcKey& init) {
    auto it = namespaces_.find(init);
    if (it == namespaces_.end()) return;
    const std::optional<ProcKey> outer = it->second.outer;
    forget_inum(it->second);
    namespaces_.erase(it);
    if (!outer) return;
    auto o = namespaces_.find(*outer);
    if (o == namespaces_.end()) return;
    erase_value(o->second.nested, init);
    if (o->second.init_exited && o->second.members.empty() && o->second.nested.empty())
        erase_namespace(*outer);
}

void Tracker::mark_incomplete() {
    for (auto& [key, ns] : namespaces_) ns.lost_events = true;
}

void Tracker::expire(uint64_t now_ns) {
    std::vector<ProcKey> expired;
    for (const auto& [key, ns] : namespaces_)
        if (ns.init_exited && now_ns > ns.died_ns &&
            now_ns - ns.died_ns > limits_.dead_namespace_grace_ns)
            expired.push_back(key);
    for (const ProcKey& key : expired) {
        auto ns = namespaces_.find(key);
        if (ns == namespaces_.end()) continue;
        // Their exits were lost: drop them as if seen.
        const std::vector<ProcKey> members = ns->second.members;
        for (const ProcKey& m : members)
            if (procs_.count(m)) forget(m, ProcKey{});
        erase_namespace(key);
    }
}

size_t Tracker::resync(const std::vector<SnapshotEvent>& live, uint64_t taken_ns) {
    std::unordered_map<ProcKey, const SnapshotEvent*, ProcKeyHash> seen;
    for (const auto& snap : live) seen.emplace(snap.task.key, &snap);

    std::vector<ProcKey> gone;
    for (const auto& [key, p] : procs_)
        if (key.start_ns < taken_ns && !seen.count(key)) gone.push_back(key);
    for (const ProcKey& key : gone) {
        auto it = procs_.find(key);
        if (it == procs_.end()) continue;
        ProcKey reaper;
        if (Namespace* found = find_namespace(it->second.ns)) {
            Namespace& ns = *found;
            if (ns.init == key) {  // its finding is lost with its exit: the namespace is dead
                mark_init_exited(ns, taken_ns);
            } else if (!ns.init_exited) {
                reaper = ns.init;
            }
        }
        forget(key, reaper);
    }
    for (const auto& snap : live)
        if (!procs_.count(snap.task.key)) apply(snap);
    return gone.size();
}

TrackerStats Tracker::stats() const {
    size_t with_main = 0;
    for (const auto& [id, cg] : cgroups_) with_main += cg.main.has_value();
    TrackerStats st;
    st.processes = procs_.size();
    st.namespaces = namespaces_.size();
    st.cgroups = with_main;
    st.untracked = untracked_;
    st.argv_dropped = argv_dropped_;
    st.starters_dropped = starters_dropped_;
    st.workers_dropped = workers_dropped_;
    st.memory_bytes = memory_bytes();
    st.list_searches = list_searches_;
    return st;
}

const ProcessSummary* Tracker::summary(const ProcKey& key) const {
    auto it = procs_.find(key);
    return it == procs_.end() ? nullptr : &it->second.summary;
}

}  // namespace initwatch::model
