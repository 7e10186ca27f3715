#include "k8s/note.h"

#include <string_view>

#include "report/escape.h"
#include "util/time.h"
#include "util/utf8.h"

namespace initwatch::k8s {

namespace {

// One command line's share of the note.
constexpr size_t kMaxCommandBytes = 160;

std::string cut(std::string s, size_t max_bytes) {
    if (s.size() <= max_bytes) return s;
    constexpr std::string_view kEllipsis = "…";
    if (max_bytes < kEllipsis.size()) return {};
    s.resize(util::utf8_prefix_length(s, max_bytes - kEllipsis.size()));
    return s += kEllipsis;
}

std::string command(const model::ProcessSummary& p) {
    return "`" +
           cut(report::format_command(p.argv, p.comm, p.argv_truncated || p.argv_dropped), kMaxCommandBytes) +
           "`";
}

std::string how_phrase(const model::LiveProcess& p) {
    std::string how = model::to_string(p.how);
    if (p.sighup_ignored) how += ", nohup";
    if (p.session_leader) how += ", setsid";
    // Stable across restarts: the starter's command and status, not its pid or time.
    if (p.how == model::How::reparented && p.started_by && p.started_by->status)
        how += ", started by " + command(*p.started_by) + " (" + p.started_by->status->describe() + ")";
    return how;
}

}  // namespace

std::string event_reason(const model::Finding& f) {
    switch (f.kind) {
        case model::Kind::init_exit: {
            const std::string who = f.scope == model::Scope::pidns ? "Init" : "MainProcess";
            switch (f.severity) {
                case model::Severity::warning:
                    return who + "ExitedLeavingProcesses";
                case model::Severity::error:
                    return who + "CrashedLeavingProcesses";
                case model::Severity::info:
                    return who + "StoppedLeavingProcesses";
            }
            break;
        }
        case model::Kind::worker_exit:
            if (f.restarted) return "WorkerRestartedBySupervisor";
            switch (f.severity) {
                case model::Severity::error:
                    return "WorkerFailedWhileInitRuns";
                case model::Severity::warning:
                    return "WorkerEndedWhileInitRuns";
                case model::Severity::info:
                    return "WorkerStoppedWhileInitRuns";
            }
            break;
        case model::Kind::stop_ignored:
            return "InitIgnoredStopSignal";
    }
    return "InitExitedLeavingProcesses";
}

std::string event_action(const model::Finding& f) {
    switch (f.kind) {
        case model::Kind::init_exit:
            return "InitExited";
        case model::Kind::worker_exit:
            return "WorkerExited";
        case model::Kind::stop_ignored:
            return "InitKilledAfterGracePeriod";
    }
    return "InitExited";
}

namespace {
// "SIGKILL from runc (pid 812, on the node)" when the sender is known, else the status.
std::string ended_by(const model::ExitStatus& status, const model::Finding& f) {
    return f.killed_by ? report::escape_text(model::describe(*f.killed_by)) : status.describe();
}
}  // namespace

std::string finding_note(const model::Finding& f, size_t max_bytes) {
    std::string head;
    switch (f.kind) {
        case model::Kind::init_exit: {
            // Behind a shim that exited on its own (128+N), killed_by is its child's.
            const bool child_killed = f.entrypoint && !f.init.status.signal;
            head = (f.scope == model::Scope::pidns ? "init " : "main process ") + command(f.init) +
                   " ended (" + (child_killed ? f.init.status.describe() : ended_by(f.init.status, f)) + ")";
            if (f.entrypoint)
                head += " after its child " + command(*f.entrypoint) + " (" +
                        (child_killed ? ended_by(f.entrypoint->status, f) : f.entrypoint->status.describe()) +
                        ")";
            head += " leaving " + std::to_string(f.live_count) +
                    (f.live_count == 1 ? " process: " : " processes: ");
            break;
        }
        case model::Kind::worker_exit: {
            const model::WorkerSummary& w = f.worker.value();
            head = "worker " + command(w) + " (" + how_phrase(w) + ") ended (" + ended_by(w.status, f) +
                   (f.restarted ? ", restarted by init" : "") + ") while init " + command(f.init) +
                   " runs; still running " + std::to_string(f.live_count) +
                   (f.live_count == 1 ? " process: " : " processes: ");
            break;
        }
        case model::Kind::stop_ignored:
            head = "init " + command(f.init) + " ended (" + ended_by(f.init.status, f) + ") " +
                   util::format_duration(f.stop->waited_ns) + " after it ignored " +
                   model::signal_name(f.stop->sender.signal);
            break;
    }
    // The fix gets up to half of the note, the list what head and fix leave.
    const std::string tail = cut(". " + report::escape_text(f.diagnosis), max_bytes / 2);
    std::string list;
    size_t listed = 0;
    for (const auto& p : f.live) {
        const std::string item = (listed ? "; " : "") + command(p) + " (" + how_phrase(p) + ")";
        const size_t rest = f.live_count - listed - 1;
        const std::string more = rest ? "; and " + std::to_string(rest) + " more" : "";
        if (head.size() + list.size() + item.size() + more.size() + tail.size() > max_bytes) break;
        list += item;
        ++listed;
    }
    if (listed < f.live_count) {
        const std::string more = listed ? "; and " + std::to_string(f.live_count - listed) + " more"
                                        : std::to_string(f.live_count) + " not listed";
        list += more;
    }
    return cut(head + list + tail, max_bytes);
}

}  // namespace initwatch::k8s
