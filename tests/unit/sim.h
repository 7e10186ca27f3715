// Builds synthetic event streams the way the kernel would emit them, and applies them to a
// Tracker: processes are created by fork, renamed by exec, removed by exit.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/tracker.h"

namespace initwatch::test {

class Sim {
public:
    explicit Sim(model::TrackerLimits limits = {}) : tracker(limits) {}

    model::Tracker tracker;
    uint64_t now = 1'000'000'000;  // ns
    std::vector<model::Finding> findings;

    // A host process (pid namespace level 0), as if it had been running before.
    model::ProcKey host(uint32_t pid, const std::string& comm = "containerd-shim") {
        model::TaskInfo t = make(pid, model::ProcKey{1, 1}, pid, 0, kHostNs, comm);
        apply(model::SnapshotEvent{now, t, {comm}});
        return t.key;
    }

    // A child of `parent` that is PID 1 of a new namespace (level: parent's + 1).
    model::ProcKey spawn_init(const model::ProcKey& parent, uint32_t pid, uint32_t inum) {
        const model::TaskInfo& p = tasks_.at(parent.tgid);
        model::TaskInfo t = make(pid, parent, 1, p.ns_level + 1, inum, p.comm);
        next_ns_pid_[inum] = 2;
        apply(model::ForkEvent{now, t});
        return t.key;
    }

    // A child in the parent's namespace (and cgroup, unless given).
    model::ProcKey fork(const model::ProcKey& parent, uint32_t pid, uint64_t cgroup = 0) {
        const model::TaskInfo& p = tasks_.at(parent.tgid);
        const uint32_t ns_pid = p.ns_level ? next_ns_pid_[p.pidns_inum]++ : pid;
        model::TaskInfo t = make(pid, parent, ns_pid, p.ns_level, p.pidns_inum, p.comm);
        t.cgroup_id = tasks_[pid].cgroup_id = cgroup ? cgroup : p.cgroup_id;
        apply(model::ForkEvent{now, t});
        return t.key;
    }

    // The runtime moves a process into a cgroup: its next events say so.
    void move_to_cgroup(const model::ProcKey& key, uint64_t cgroup) {
        tasks_.at(key.tgid).cgroup_id = cgroup;
    }

    // A process of the host namespace that joins namespace `inum` (setns), then forks.
    model::ProcKey fork_into(const model::ProcKey& parent, uint32_t pid, uint32_t inum, uint64_t cgroup = 0) {
        const model::TaskInfo& p = tasks_.at(parent.tgid);
        model::TaskInfo t = make(pid, parent, next_ns_pid_[inum]++, p.ns_level + 1, inum, p.comm);
        if (cgroup) t.cgroup_id = tasks_[pid].cgroup_id = cgroup;
        apply(model::ForkEvent{now, t});
        return t.key;
    }

    void exec(const model::ProcKey& key, std::vector<std::string> argv) {
        model::TaskInfo& t = tasks_.at(key.tgid);
        t.comm = argv.empty() ? t.comm : argv[0].substr(0, 15);
        model::ExecEvent ev;
        ev.ts_ns = tick();
        ev.task = t;
        ev.old_pid = key.tgid;
        ev.filename = argv.empty() ? "" : argv[0];
        ev.argv = std::move(argv);
        apply(ev);
    }

    void set_flags(const model::ProcKey& key, bool sighup_ignored, bool session_leader) {
        tasks_.at(key.tgid).sighup_ignored = sighup_ignored;
        tasks_.at(key.tgid).session_leader = session_leader;
    }

    // wait_status as the kernel's task->exit_code.
    std::optional<model::Finding> exit(const model::ProcKey& key, uint32_t wait_status = 0) {
        model::TaskInfo t = tasks_.at(key.tgid);
        tasks_.erase(key.tgid);
        model::ExitEvent ev;
        ev.ts_ns = tick();
        ev.task = t;
        ev.wait_status = wait_status;
        ev.ns_init = t.ns_level > 0 && t.ns_pid == 1;
        return apply(ev);
    }

    // A fatal signal to `target`, from `sender` (unset: from the kernel), as signal_generate
    // reports it; `ignored`: a namespace init's signal the kernel dropped.
    void signal(const model::ProcKey& target, int sig, std::optional<model::ProcKey> sender,
                bool ignored = false) {
        model::SignalEvent ev;
        ev.ignored = ignored;
        ev.ts_ns = tick();
        ev.task = tasks_.at(target.tgid);
        ev.signal = sig;
        ev.from_kernel = !sender;
        ev.si_code = sender ? 0 : 0x80;
        if (sender) ev.sender = tasks_.at(sender->tgid);
        apply(ev);
    }

    // The OOM killer's victim; pid_only as older kernels name it.
    void oom(const model::ProcKey& victim, bool pid_only) {
        model::OomEvent ev;
        ev.ts_ns = tick();
        ev.task.key = {victim.tgid, pid_only ? 0 : victim.start_ns};
        apply(ev);
    }

    // A namespace init's exit record as the kernel sends it, without touching the simulation's
    // own bookkeeping: for duplicates, stale records and the kernel's pid count.
    model::ExitEvent init_exit_record(const model::ProcKey& init, uint32_t inum,
                                      uint32_t ns_pids_allocated = 0) {
        model::ExitEvent ev;
        ev.ts_ns = tick();
        ev.task.key = init;
        ev.task.ns_level = 1;
        ev.task.ns_pid = 1;
        ev.task.pidns_inum = inum;
        ev.ns_init = true;
        ev.ns_pids_allocated = ns_pids_allocated;
        return ev;
    }

    std::optional<model::Finding> apply(const model::Event& ev) {
        auto f = tracker.apply(ev);
        if (f) findings.push_back(*f);
        return f;
    }

    uint64_t tick() { return now += 1'000'000; }

    static constexpr uint32_t kHostNs = 4026531836;

private:
    model::TaskInfo make(uint32_t pid, const model::ProcKey& parent, uint32_t ns_pid, uint32_t level,
                         uint32_t inum, const std::string& comm) {
        model::TaskInfo t;
        t.key = {pid, tick()};
        t.parent = parent;
        t.cgroup_id = level ? 1000 + inum % 1000 : 1;
        t.pidns_inum = inum;
        t.ns_pid = ns_pid;
        t.ns_level = level;
        t.comm = comm;
        tasks_[pid] = t;
        return t;
    }

    std::map<uint32_t, model::TaskInfo> tasks_;
    std::map<uint32_t, uint32_t> next_ns_pid_;
};

}  // namespace initwatch::test
