#include "model/killer_log.h"

#include <csignal>

#include "model/process_table.h"

namespace initwatch::model {

KilledBy KillerLog::sender_of(const SignalEvent& ev) const {
    KilledBy k;
    k.signal = ev.signal;
    if (ev.from_kernel) {
        k.kind = KilledBy::Sender::kernel;
    } else {
        k.kind = KilledBy::Sender::process;
        ProcessSummary sender;
        if (const ProcessTable::Process* p = table_.find(ev.sender.key)) {
            sender = p->summary;
        } else {
            sender.key = ev.sender.key;
            sender.pid = ev.sender.key.tgid;
            sender.ns_pid = ev.sender.ns_pid;
            sender.comm = ev.sender.comm;
            sender.argv_unknown = true;
        }
        k.sender = std::move(sender);
        k.sender_cgroup_id = ev.sender.cgroup_id;
        k.sender_ns_level = ev.sender.ns_level;
        k.same_namespace = ev.sender.pidns_inum == ev.task.pidns_inum;
    }
    return k;
}

void KillerLog::signal(const SignalEvent& ev) {
    KilledBy k = sender_of(ev);
    auto it = log_.find(ev.task.key);
    if (it != log_.end()) {
        it->second = std::move(k);
    } else if (log_.size() < kMaxEntries) {
        log_.emplace(ev.task.key, std::move(k));
    } else {
        ++refused_;
    }
}

void KillerLog::oom(const OomEvent& ev) {
    // The OOM killer's SIGKILL comes first (do_send_sig_info, then mark_oom_victim). Older
    // kernels name the victim by pid only: the entry of that tgid, if there is exactly one.
    const ProcKey& victim = ev.task.key;
    KilledBy* found = nullptr;
    if (victim.start_ns) {
        auto it = log_.find(victim);
        if (it != log_.end()) found = &it->second;
    } else {
        for (auto& [key, k] : log_)
            if (key.tgid == victim.tgid) {
                if (found) return;  // two processes of that pid: no guess
                found = &k;
            }
    }
    if (found && found->kind == KilledBy::Sender::kernel && found->signal == SIGKILL)
        found->kind = KilledBy::Sender::oom;
}

std::optional<KilledBy> KillerLog::killer_of(const ProcKey& key, int signal) const {
    auto it = log_.find(key);
    if (it == log_.end() || it->second.signal != signal) return std::nullopt;
    return it->second;
}

}  // namespace initwatch::model
