#include "model/process_table.h"

#include <algorithm>

namespace initwatch::model {

namespace {

template <typename T>
void erase_value(std::vector<T>& v, const T& value) {
    v.erase(std::remove(v.begin(), v.end(), value), v.end());
}

constexpr size_t kMaxChainDepth = 64;

}  // namespace

ProcessTable::ProcessTable(const TrackerLimits& limits) : limits_(limits) {}

const ProcessTable::Process* ProcessTable::find(const ProcKey& key) const {
    auto it = procs_.find(key);
    return it == procs_.end() ? nullptr : &it->second;
}

ProcessTable::Process* ProcessTable::find(const ProcKey& key) {
    auto it = procs_.find(key);
    return it == procs_.end() ? nullptr : &it->second;
}

const ProcessTable::Namespace* ProcessTable::find_namespace(const std::optional<ProcKey>& init) const {
    if (!init) return nullptr;
    auto it = namespaces_.find(*init);
    return it == namespaces_.end() ? nullptr : &it->second;
}

ProcessTable::Namespace* ProcessTable::find_namespace(const std::optional<ProcKey>& init) {
    if (!init) return nullptr;
    auto it = namespaces_.find(*init);
    return it == namespaces_.end() ? nullptr : &it->second;
}

const ProcessTable::Cgroup* ProcessTable::find_cgroup(uint64_t id) const {
    auto it = cgroups_.find(id);
    return it == cgroups_.end() ? nullptr : &it->second;
}

ProcessTable::Cgroup* ProcessTable::find_cgroup(uint64_t id) {
    auto it = cgroups_.find(id);
    return it == cgroups_.end() ? nullptr : &it->second;
}

ProcessTable::Process* ProcessTable::track(const TaskInfo& task, Argv argv, bool from_snapshot) {
    if (auto it = procs_.find(task.key); it != procs_.end()) return &it->second;  // seen twice
    Process* parent = find(task.parent);
    const Owner owner = owner_for(task, parent);
    constexpr int kMaxGivenUp = 4;  // a process costs about what another frees
    for (int given_up = 0; full(); ++given_up) {
        if (given_up == kMaxGivenUp || !make_room(owner, task.parent)) {
            refuse(owner, find_namespace(existing_namespace(task, parent)));
            return nullptr;
        }
    }
    const std::optional<ProcKey> ns = namespace_for(task, parent);

    Process p;
    p.task = task;
    p.parent = task.parent;
    p.ns = ns;
    p.owner = owner;
    p.summary.key = task.key;
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
        number_background_fork(*parent);  // it goes on: its previous fork was not waited for
        list_add(parent->children, inserted, &Process::child_slot);
        ++parent->started_children;
        inserted.parent_activity = ++parent->activity;
        parent->last_forked = inserted.task.key;
    }
    if (Namespace* n = find_namespace(ns)) {
        list_add(n->members, inserted, &Process::ns_slot);
        if (n->init == task.parent) {  // init started another child
            n->waited_child.reset();
            n->waited_child_killed_by.reset();
        }
    }
    join_cgroup(inserted, task.cgroup_id);
    own(inserted);
    return &inserted;
}

bool ProcessTable::full() const {
    return (limits_.max_processes && procs_.size() >= limits_.max_processes) ||
           memory_bytes() >= limits_.max_memory_bytes;
}

ProcessTable::Owner ProcessTable::owner_for(const TaskInfo& task, const Process* parent) const {
    if (task.ns_level) {
        if (parent && parent->ns && parent->task.pidns_inum == task.pidns_inum) return parent->owner;
        if (const Namespace* ns = find_namespace(existing_namespace(task, parent)))
            return {container_of(*ns), 0};
        if (task.ns_pid == 1) return parent && parent->ns ? parent->owner : Owner{task.key, 0};
    }
    return {{}, task.cgroup_id > 1 ? task.cgroup_id : 0};
}

bool ProcessTable::make_room(const Owner& mine, const ProcKey& keep) {
    constexpr size_t kMaxLooked = 16;  // from the latest back: a leaf is near the end
    const auto most = std::max_element(owned_.begin(), owned_.end(), [](const auto& a, const auto& b) {
        return a.second.size() < b.second.size();
    });
    const auto held = owned_.find(mine);
    const size_t held_mine = held == owned_.end() ? 0 : held->second.size();
    if (most == owned_.end() || most->first == mine || most->second.size() <= held_mine + 1) return false;
    const Owner victim_owner = most->first;
    const std::vector<ProcKey>& list = most->second;
    for (size_t i = list.size(), looked = 0; i-- > 0 && looked < kMaxLooked; ++looked) {
        const Process* p = find(list[i]);
        if (!p || p->task.key == keep || !p->children.empty()) continue;
        Namespace* ns = find_namespace(p->ns);
        if (ns && ns->init == p->task.key) continue;
        if (const Cgroup* cg = find_cgroup(p->cgroup_id); cg && cg->main == p->task.key) continue;
        const ProcKey victim = p->task.key;
        refuse(victim_owner, ns);
        forget(victim, ns && !ns->init_exited ? ns->init : ProcKey{});
        return true;
    }
    return false;
}

void ProcessTable::refuse(const Owner& owner, Namespace* ns) {
    ++untracked_;
    if (owned_.count(owner)) ++untracked_by_owner_[owner];
    if (ns) ns->lost_events = true;
}

void ProcessTable::own(Process& p) {
    std::vector<ProcKey>& list = owned_[p.owner];
    p.owner_slot = static_cast<uint32_t>(list.size());
    list.push_back(p.task.key);
}

void ProcessTable::disown(const Process& p) {
    auto it = owned_.find(p.owner);
    if (it == owned_.end()) return;
    list_remove(it->second, p, &Process::owner_slot);
    if (it->second.empty()) {
        untracked_by_owner_.erase(p.owner);
        owned_.erase(it);
    }
}

uint64_t ProcessTable::untracked_of(const Owner& owner) const {
    auto it = untracked_by_owner_.find(owner);
    return it == untracked_by_owner_.end() ? 0 : it->second;
}

size_t ProcessTable::held_by(const Owner& owner) const {
    auto it = owned_.find(owner);
    return it == owned_.end() ? 0 : it->second.size();
}

void ProcessTable::add_snapshot(const SnapshotEvent& snap) {
    bool dropped = false;
    Argv argv = within_budget(snap.argv, dropped);
    if (Process* p = track(snap.task, std::move(argv), true)) {
        p->summary.argv_truncated = snap.argv_truncated;
        p->summary.argv_dropped = dropped;
        p->summary.argv_unknown = snap.argv_unknown;
    }
}

ProcessTable::Process* ProcessTable::exec(const ExecEvent& ev) {
    Process* p = find(ev.task.key);
    if (!p) p = track(ev.task, {}, false);  // its fork was not seen
    if (!p) return nullptr;
    p->task = ev.task;
    p->summary.comm = ev.task.comm;
    p->summary.argv = Argv();  // the old one is no longer this process's to count
    p->summary.argv = within_budget(ev.argv, p->summary.argv_dropped);
    p->summary.argv_truncated = ev.argv_truncated;
    p->summary.argv_unknown = false;
    p->summary.execed = true;
    p->summary.stdio = ev.stdio;
    number_background_fork(*p);  // it runs another program now: its last fork was not waited for
    ++p->activity;
    join_cgroup(*p, ev.task.cgroup_id);

    // A container's main process: the first program exec'd in its cgroup by a parent that is
    // outside it (the runtime's shim), or that is a runtime stage that never exec'd there.
    if (!p->cgroup_id) return p;
    Cgroup& cg = cgroups_.at(p->cgroup_id);
    if (cg.main || cg.reported) return p;
    const Process* parent = find(p->parent);
    if (!parent || parent->cgroup_id != p->cgroup_id || !parent->summary.execed) cg.main = p->task.key;
    return p;
}

void ProcessTable::list_add(std::vector<ProcKey>& list, Process& p, Slot slot) {
    p.*slot = static_cast<uint32_t>(list.size());
    list.push_back(p.task.key);
}

// O(1): the last entry takes the leaving one's place, and its slot is updated.
void ProcessTable::list_remove(std::vector<ProcKey>& list, const Process& p, Slot slot) {
    size_t i = p.*slot;
    if (i >= list.size() || list[i] != p.task.key) {  // never expected: search rather than corrupt
        ++list_searches_;
        i = static_cast<size_t>(std::find(list.begin(), list.end(), p.task.key) - list.begin());
        if (i == list.size()) return;
    }
    if (i + 1 != list.size()) {
        list[i] = list.back();
        if (Process* moved = find(list[i])) moved->*slot = static_cast<uint32_t>(i);
    }
    list.pop_back();
}

size_t ProcessTable::bytes_per_process() {
    // Its node in the table (key, value, the next pointer and cached hash of libstdc++'s
    // nodes), a bucket, and its entries in the parent's, namespace's, cgroup's and owner's
    // lists (vectors grow by doubling: twice an entry).
    return sizeof(std::pair<const ProcKey, Process>) + 3 * sizeof(void*) + 4 * 2 * sizeof(ProcKey);
}

size_t ProcessTable::bytes_per_exited() {
    // The record and shared_ptr's control block (with its deleter) in one allocation's
    // worth; comm fits std::string's inline buffer (TASK_COMM_LEN is 16).
    return sizeof(Exited) + 4 * sizeof(void*);
}

size_t ProcessTable::memory_bytes() const {
    constexpr size_t kPerGroup = 256;  // a namespace or cgroup entry, beside its members' list entries
    return procs_.size() * bytes_per_process() + (namespaces_.size() + cgroups_.size()) * kPerGroup +
           exited_records_ * bytes_per_exited() + Argv::live_bytes();
}

void ProcessTable::number_background_fork(Process& parent) {
    Process* last = find(parent.last_forked);
    if (last && !last->background_index && !last->reparented)
        last->background_index = ++parent.background_forks;
}

ProcessTable::ExitedRef ProcessTable::remember(const Process& p, const ExitEvent& ev) {
    if (memory_bytes() + bytes_per_exited() > limits_.max_memory_bytes) return nullptr;
    ++exited_records_;
    size_t* count = &exited_records_;
    // The parent that started it: the one it has still, or the exited one it keeps.
    const ProcKey parent = p.started_by ? p.started_by->summary.key : p.reparented ? ProcKey{} : p.parent;
    return ExitedRef(new Exited{p.summary, ev.wait_status, p.task.key.start_ns, ev.ts_ns, parent,
                                p.started_by, p.background_index},
                     [count](const Exited* e) {
                         --*count;
                         delete e;
                     });
}

void ProcessTable::hand_starter(const Process& p, const ExitedRef& exited) {
    for (const ProcKey& child_key : p.children)
        if (Process* child = find(child_key); child && !child->started_by && !child->started_by_dropped) {
            child->started_by = exited;
            child->started_by_dropped = !exited;
            starters_dropped_ += !exited;
        }
}

Argv ProcessTable::within_budget(Argv argv, bool& dropped) {
    dropped = false;
    if (argv.bytes().size() <= kDroppedArgvBytes || memory_bytes() <= limits_.max_memory_bytes / 2)
        return argv;
    dropped = true;
    ++argv_dropped_;
    return argv.prefix(kDroppedArgvBytes);
}

void ProcessTable::set_snapshot_argv(const ProcKey& key, Argv argv, bool truncated) {
    Process* p = find(key);
    if (!p || !p->summary.argv_unknown) return;
    ProcessSummary& s = p->summary;
    s.argv = within_budget(std::move(argv), s.argv_dropped);
    s.argv_truncated = truncated;
    s.argv_unknown = false;
}

// The root cgroup (id 1) holds every host process on many machines: it is no container.
void ProcessTable::join_cgroup(Process& p, uint64_t cgroup_id) {
    if (p.cgroup_id == cgroup_id) return;
    leave_cgroup(p);
    p.cgroup_id = cgroup_id > 1 ? cgroup_id : 0;
    if (p.cgroup_id) list_add(cgroups_[p.cgroup_id].members, p, &Process::cgroup_slot);
}

void ProcessTable::leave_cgroup(const Process& p) {
    auto cg = cgroups_.find(p.cgroup_id);
    if (cg == cgroups_.end()) return;
    list_remove(cg->second.members, p, &Process::cgroup_slot);
    if (cg->second.members.empty()) cgroups_.erase(cg);
}

// A child lives in its parent's namespace, or is the init of a new one, or joined an
// existing one from outside (setns). Inode numbers are reused quickly, so they only
// name namespaces whose init is alive.
std::optional<ProcKey> ProcessTable::namespace_for(const TaskInfo& task, const Process* parent) {
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

std::optional<ProcKey> ProcessTable::existing_namespace(const TaskInfo& task, const Process* parent) const {
    if (task.ns_level == 0) return std::nullopt;
    if (parent && parent->ns && parent->task.pidns_inum == task.pidns_inum) return parent->ns;
    if (auto it = live_ns_by_inum_.find(task.pidns_inum); it != live_ns_by_inum_.end()) return it->second;
    return std::nullopt;
}

// Walks current parents up to init; leaving the namespace means it was entered.
How ProcessTable::how_in_namespace(const Process& p, const Process& init,
                                   std::vector<uint32_t>* chain) const {
    bool outside = false;
    size_t depth = 0;
    ProcKey cur = p.parent;
    while (cur != init.task.key && depth < kMaxChainDepth) {
        const Process* parent = find(cur);
        if (!parent || !parent->ns) {
            outside = true;
            break;
        }
        if (chain) chain->push_back(cur.tgid);
        ++depth;
        cur = parent->parent;
    }
    if (outside) return How::entered;
    if (chain) chain->push_back(init.task.key.tgid);
    if (p.parent == init.task.key) return p.reparented ? How::reparented : How::background;
    return How::descendant;
}

How ProcessTable::how_in_cgroup(const Process& p, const Process& main, std::vector<uint32_t>* chain) const {
    bool reached_main = false;
    size_t depth = 0;
    ProcKey cur = p.parent;
    while (depth < kMaxChainDepth) {
        const Process* parent = find(cur);
        if (!parent || parent->cgroup_id != main.cgroup_id) break;
        if (chain) chain->push_back(cur.tgid);
        ++depth;
        if (cur == main.task.key) {
            reached_main = true;
            break;
        }
        cur = parent->parent;
    }
    if (p.parent == main.task.key) return How::background;
    if (p.reparented) return How::reparented;
    return reached_main ? How::descendant : How::entered;
}

ProcKey ProcessTable::container_of(const Namespace& ns) const {
    const Namespace* n = &ns;
    for (size_t depth = 0; depth < kMaxChainDepth && n->outer; ++depth) {
        const Namespace* outer = find_namespace(n->outer);
        if (!outer) break;
        n = outer;
    }
    return n->init;
}

void ProcessTable::collect_members(const Namespace& ns, std::vector<const Process*>& out) const {
    for (const ProcKey& key : ns.members)
        if (const Process* p = find(key)) out.push_back(p);
    for (const ProcKey& nested : ns.nested)
        if (const Namespace* n = find_namespace(nested)) collect_members(*n, out);
}

void ProcessTable::forget(const ProcKey& key, const ProcKey& reaper) {
    auto it = procs_.find(key);
    Process& p = it->second;
    // A process cannot inherit its own children (the key of "no reaper" may name a process
    // in a hostile or corrupt stream); the list is moved out so that no insertion below can
    // move it while it is read.
    Process* reaper_p = reaper == key ? nullptr : find(reaper);
    const std::vector<ProcKey> children = std::move(p.children);
    p.children.clear();
    for (const ProcKey& child_key : children) {
        Process* child = find(child_key);
        if (!child) continue;
        child->parent = reaper == key ? ProcKey{} : reaper;
        child->reparented = true;
        if (reaper_p) list_add(reaper_p->children, *child, &Process::child_slot);
    }
    if (Process* parent = find(p.parent)) {
        list_remove(parent->children, p, &Process::child_slot);
        if (!p.reparented && parent->started_children) --parent->started_children;
    }
    leave_cgroup(p);
    disown(p);
    const std::optional<ProcKey> ns_key = p.ns;
    Namespace* ns = find_namespace(ns_key);
    if (ns) list_remove(ns->members, p, &Process::ns_slot);
    procs_.erase(it);

    if (ns && ns->init_exited && ns->members.empty() && ns->nested.empty()) erase_namespace(*ns_key);
}

// Its inode may name another namespace from now on.
void ProcessTable::forget_inum(const Namespace& ns) {
    if (auto by_inum = live_ns_by_inum_.find(ns.inum);
        by_inum != live_ns_by_inum_.end() && by_inum->second == ns.init)
        live_ns_by_inum_.erase(by_inum);
}

void ProcessTable::mark_init_exited(Namespace& ns, uint64_t ts_ns) {
    ns.init_exited = true;
    ns.died_ns = ts_ns;
    forget_inum(ns);
}

void ProcessTable::erase_namespace(const ProcKey& init) {
    auto it = namespaces_.find(init);
    if (it == namespaces_.end()) return;
    const std::optional<ProcKey> outer = it->second.outer;
    forget_inum(it->second);
    namespaces_.erase(it);
    Namespace* o = find_namespace(outer);
    if (!o) return;
    erase_value(o->nested, init);
    if (o->init_exited && o->members.empty() && o->nested.empty()) erase_namespace(*outer);
}

void ProcessTable::mark_incomplete() {
    for (auto& [key, ns] : namespaces_) ns.lost_events = true;
}

void ProcessTable::expire(uint64_t now_ns) {
    std::vector<ProcKey> expired;
    for (const auto& [key, ns] : namespaces_)
        if (ns.init_exited && now_ns > ns.died_ns && now_ns - ns.died_ns > limits_.dead_namespace_grace_ns)
            expired.push_back(key);
    for (const ProcKey& key : expired) {
        const Namespace* ns = find_namespace(key);
        if (!ns) continue;
        // Their exits were lost: drop them as if seen.
        const std::vector<ProcKey> members = ns->members;
        for (const ProcKey& m : members)
            if (procs_.count(m)) forget(m, ProcKey{});
        erase_namespace(key);
    }
}

size_t ProcessTable::resync(const std::vector<SnapshotEvent>& live, uint64_t taken_ns) {
    std::unordered_map<ProcKey, const SnapshotEvent*, ProcKeyHash> seen;
    for (const auto& snap : live) seen.emplace(snap.task.key, &snap);

    std::vector<ProcKey> gone;
    for (const auto& [key, p] : procs_)
        if (key.start_ns < taken_ns && !seen.count(key)) gone.push_back(key);
    for (const ProcKey& key : gone) {
        Process* p = find(key);
        if (!p) continue;
        ProcKey reaper;
        if (Namespace* ns = find_namespace(p->ns)) {
            if (ns->init == key)  // its finding is lost with its exit: the namespace is dead
                mark_init_exited(*ns, taken_ns);
            else if (!ns->init_exited)
                reaper = ns->init;
        }
        forget(key, reaper);
    }
    for (const auto& snap : live)
        if (!procs_.count(snap.task.key)) add_snapshot(snap);
    return gone.size();
}

size_t ProcessTable::cgroups_with_main() const {
    size_t n = 0;
    for (const auto& [id, cg] : cgroups_) n += cg.main.has_value();
    return n;
}

}  // namespace initwatch::model
