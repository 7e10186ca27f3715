#include "model/worker_watch.h"

#include <algorithm>
#include <csignal>
#include <unordered_map>

namespace initwatch::model {

void WorkerWatch::child_ended(const Process& p, const Process& init, const Namespace& ns,
                              const ExitEvent& ev) {
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
    const ProcKey container = table_.container_of(ns);
    if (!make_room(container)) {
        ++dropped_;
        return;
    }
    // A script's foreground step (init did nothing else while it ran), or a daemon that ended
    // cleanly and left init alone (`pg_ctl stop` asked it to, and pg_ctl returned first): if
    // init goes on (forks or execs) within the window, the script is still at work.
    const bool maybe_foreground = !p.reparented && p.parent_activity == init.activity;
    const bool clean = !status.signal && status.exit_code.value_or(0) == 0;
    pending_.push_back(Pending{builder_.worker_exit(p, init, ns, ev), ns.init, container,
                               ev.ts_ns + kRestartWindowNs, maybe_foreground || clean, init.activity});
}

bool WorkerWatch::make_room(const ProcKey& container) {
    std::unordered_map<ProcKey, size_t, ProcKeyHash> held;
    for (const auto& w : pending_) ++held[w.container];
    const size_t mine = held[container];
    if (mine >= kMaxPendingPerContainer) return false;
    if (pending_.size() < kMaxPending) return true;
    // All slots held: the container holding the most gives up its latest, if it holds more
    // than this one will.
    const auto most = std::max_element(held.begin(), held.end(),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
    if (most->second <= mine + 1) return false;
    const ProcKey victim = most->first;
    const auto last = std::find_if(pending_.rbegin(), pending_.rend(),
                                   [&](const Pending& w) { return w.container == victim; });
    pending_.erase(std::next(last).base());
    ++dropped_;
    return true;
}

// init itself ended: its workers' findings are due now, except the ends its own exit tells
// of: a worker whose end init followed at once (a wrapper waiting for it: the init_exit
// finding names it), and the deaths that were part of a stop (a runtime that kills the whole
// cgroup kills the workers a moment before init).
void WorkerWatch::init_exited(const ProcKey& ns, const ExitStatus& init_status, uint64_t ts_ns) {
    const auto stop = [](const ExitStatus& s) {
        return s.signal && (*s.signal == SIGKILL || *s.signal == SIGTERM || *s.signal == SIGINT);
    };
    pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                  [&](const Pending& w) {
                                      if (w.ns != ns) return false;
                                      const bool followed =
                                          ts_ns >= w.finding.ts_ns &&
                                          ts_ns - w.finding.ts_ns <= FindingBuilder::kEntrypointWindowNs;
                                      return followed ||
                                             (stop(init_status) && stop(w.finding.worker->status)) ||
                                             was_a_step(w);
                                  }),
                   pending_.end());
    for (auto& w : pending_)
        if (w.ns == ns) w.due_ns = 0;
}

// init exec'd a new child with a worker's command line: a supervisor restarting it.
void WorkerWatch::exec_seen(const Process& p) {
    if (pending_.empty() || p.reparented) return;
    const Namespace* ns = table_.find_namespace(p.ns);
    if (!ns || ns->init != p.parent) return;
    const Process* init = table_.find(ns->init);
    if (!init) return;
    for (auto& w : pending_)
        if (w.ns == ns->init && !w.finding.restarted && w.finding.worker->argv == p.summary.argv &&
            // A step init may have waited for is restarted only if starting it again was the
            // next thing init did (a script that runs `id -u` twice is no supervisor).
            (!w.dropped_if_init_goes_on || init->activity == w.init_activity + 1)) {
            w.finding.restarted = true;
            w.finding.severity = worker_severity_of(w.finding.worker->status, true, w.finding.killed_by);
            w.finding.diagnosis = diagnose(w.finding);
            w.due_ns = 0;
            return;
        }
}

bool WorkerWatch::was_a_step(const Pending& w) const {
    const Process* init = table_.find(w.ns);
    return w.dropped_if_init_goes_on && !w.finding.restarted && init && init->activity != w.init_activity;
}

void WorkerWatch::take_due(uint64_t now_ns, std::vector<Finding>& out) {
    auto due = std::stable_partition(pending_.begin(), pending_.end(),
                                     [&](const Pending& w) { return w.due_ns <= now_ns; });
    for (auto it = pending_.begin(); it != due; ++it)
        if (!was_a_step(*it)) out.push_back(std::move(it->finding));
    pending_.erase(pending_.begin(), due);
}

}  // namespace initwatch::model
