#include "model/finding.h"

#include <csignal>

#include "model/command_line.h"
#include "util/shell_quote.h"
#include "util/time.h"

namespace initwatch::model {

const char* to_string(Kind k) {
    switch (k) {
        case Kind::init_exit:
            return "init_exit";
        case Kind::worker_exit:
            return "worker_exit";
        case Kind::stop_ignored:
            return "stop_ignored";
    }
    return "unknown";
}

const char* to_string(Severity s) {
    switch (s) {
        case Severity::info:
            return "info";
        case Severity::warning:
            return "warning";
        case Severity::error:
            return "error";
    }
    return "unknown";
}

const char* to_string(How h) {
    switch (h) {
        case How::background:
            return "background";
        case How::reparented:
            return "reparented";
        case How::descendant:
            return "descendant";
        case How::entered:
            return "entered";
    }
    return "unknown";
}

const char* to_string(Scope s) {
    switch (s) {
        case Scope::pidns:
            return "pidns";
        case Scope::cgroup:
            return "cgroup";
    }
    return "unknown";
}

const char* to_string(KilledBy::Sender s) {
    switch (s) {
        case KilledBy::Sender::process:
            return "process";
        case KilledBy::Sender::kernel:
            return "kernel";
        case KilledBy::Sender::oom:
            return "oom";
    }
    return "unknown";
}

namespace {
std::string mebibytes(uint64_t bytes) {
    if (bytes % (uint64_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    return std::to_string(bytes) + " bytes";
}
}  // namespace

std::string describe(const KilledBy& k) {
    const std::string sig = signal_name(k.signal);
    switch (k.kind) {
        case KilledBy::Sender::oom:
            return sig + " from the OOM killer" +
                   (k.memory_max ? " (the container's memory.max is " + mebibytes(*k.memory_max) + ")" : "");
        case KilledBy::Sender::kernel:
            return sig + " from the kernel";
        case KilledBy::Sender::process:
            break;
    }
    if (!k.sender) return sig + " from a process";
    const ProcessSummary& p = *k.sender;
    const std::string pid = "pid " + std::to_string(p.pid);
    if (k.same_namespace) {
        const std::string who = p.argv.empty() ? util::shell_quote(p.comm) : "`" + shell_join(p.argv) + "`";
        return sig + " from " + who + " inside the container (" + pid + ")";
    }
    return sig + " from " + util::shell_quote(p.comm) + " (" + pid + ", " +
           (k.sender_ns_level == 0 ? "on the node" : "in another pid namespace") + ")";
}

void add_to_groups(std::vector<LiveGroup>& groups, How how, std::string_view comm, uint64_t count,
                   size_t max_groups) {
    for (auto& g : groups)
        if (g.how == how && g.comm == comm) {
            g.count += count;
            return;
        }
    if (groups.size() >= max_groups && !comm.empty()) {
        add_to_groups(groups, how, "", count, max_groups);
        return;
    }
    groups.push_back(LiveGroup{how, std::string(comm), count});
}

Severity severity_of(const ExitStatus& status) {
    if (!status.signal) return Severity::warning;
    switch (*status.signal) {
        case SIGTERM:
        case SIGINT:
        case SIGKILL:
            return Severity::info;
        default:
            return Severity::error;
    }
}

Severity worker_severity_of(const ExitStatus& status, bool restarted,
                            const std::optional<KilledBy>& killed_by) {
    if (killed_by && killed_by->kind == KilledBy::Sender::oom) return Severity::error;
    if (restarted) return Severity::info;
    if (!status.signal) return status.exit_code.value_or(0) ? Severity::error : Severity::warning;
    switch (*status.signal) {
        case SIGTERM:
        case SIGINT:
        case SIGHUP:
            return Severity::info;
        case SIGKILL:
            return Severity::warning;
        default:
            return Severity::error;
    }
}

namespace {

std::string join(const Argv& argv, const std::string& fallback) {
    return argv.empty() ? util::shell_quote(fallback) : shell_join(argv);
}

std::string count_phrase(size_t n) { return std::to_string(n) + (n == 1 ? " process" : " processes"); }

// The process most likely meant to run forever: the oldest program init put in the
// background. A fork that has not exec'd yet says nothing of what it was going to run.
const LiveProcess* main_suspect(const std::vector<LiveProcess>& live) {
    for (How how : {How::background, How::reparented, How::descendant})
        for (const auto& p : live)
            if (p.how == how && p.execed) return &p;
    return nullptr;
}

// The listed process whose script line is known, in the order main_suspect looks.
const LiveProcess* sourced(const std::vector<LiveProcess>& live) {
    for (How how : {How::background, How::reparented, How::descendant})
        for (const auto& p : live)
            if (p.how == how && p.source) return &p;
    return nullptr;
}

// "Line 3 of /my-app/startup.sh (`nohup node /my-app/server.js &`)": a sentence starts with it.
std::string line_phrase(const SourceLine& s) {
    return "Line " + std::to_string(s.line) + " of " +
           (s.file ? *s.file : std::string("the `sh -c` script")) + " (`" + s.text + "`)";
}

// Where a stream went, said to a person: "/dev/null", "the file app.log", ...
std::string where_to(const Stdio& s) {
    switch (s.kind) {
        case StdioKind::null:
            return "/dev/null";
        case StdioKind::file:
            return "the file " + util::shell_quote(s.name);
        case StdioKind::closed:
            return "nowhere (closed)";
        case StdioKind::tty:
            return "a terminal";
        case StdioKind::socket:
            return "a socket";
        case StdioKind::pipe:
            return "another pipe";
        case StdioKind::other:
            return util::shell_quote(s.name);
        case StdioKind::unknown:
            return "?";
    }
    return "?";
}

}  // namespace

std::string output_note(const Finding& f, const ProcessSummary& p) {
    const Stdio& log = f.init.stdio[0];  // what the runtime reads: init's stdout
    if (log.kind == StdioKind::unknown || p.stdio[0].kind == StdioKind::unknown) return {};
    const bool out_lost = !(p.stdio[0] == log),
               err_lost = !(p.stdio[1] == log || p.stdio[1] == f.init.stdio[1]);
    if (!out_lost && !err_lost) return {};
    std::string what;
    if (out_lost && err_lost && p.stdio[0] == p.stdio[1])
        what = "Its stdout and stderr went to " + where_to(p.stdio[0]);
    else if (out_lost && err_lost)
        what = "Its stdout went to " + where_to(p.stdio[0]) + " and its stderr to " + where_to(p.stdio[1]);
    else if (out_lost)
        what = "Its stdout went to " + where_to(p.stdio[0]);
    else
        what = "Its stderr went to " + where_to(p.stdio[1]);
    return " " + what + ", not to the container's log (`kubectl logs`): why it ended is not there either.";
}

namespace {

// The fix for an init that ended while what its script started in the background ran on.
std::string fix_of(const SourceLine& s) {
    return line_phrase(s) +
           " started it in the background, then the script ended: make that command the script's last, in "
           "the "
           "foreground: `" +
           s.suggestion + "`.";
}

// "exited 0", "crashed with SIGSEGV", "was stopped by SIGTERM", as severity_of judges it.
std::string ending(const ExitStatus& status) {
    switch (severity_of(status)) {
        case Severity::warning:
            return "exited " + std::to_string(status.exit_code.value_or(0));
        case Severity::error:
            return "crashed with " + status.describe();
        case Severity::info:
            return "was stopped by " + status.describe();
    }
    return status.describe();
}

std::string worker_diagnosis(const Finding& f) {
    const WorkerSummary& w = *f.worker;
    const std::string worker = "`" + join(w.argv, w.comm) + "`";
    const std::string origin = w.how == How::reparented ? "reparented to init when its parent exited"
                                                        : "started by init in the background";
    const std::string init = "init `" + join(f.init.argv, f.init.comm) + "`";
    const std::string head = worker + " (" + origin + ", ran " + util::format_duration(w.age_ns) + ") ";
    if (f.restarted)
        return head + "ended (" + w.status.describe() + ") and " + init +
               " started it again: a supervisor restarting its worker; the container stays Running. "
               "If it keeps ending, its own log says why.";
    std::string what;
    if (const auto& k = f.killed_by; k && k->kind == KilledBy::Sender::oom)
        what = "was ended by the OOM killer" +
               (k->memory_max ? " (the container's memory.max is " + mebibytes(*k->memory_max) + ")" : "");
    else if (k)
        what = "was killed by " + describe(*k);
    else if (w.status.signal && *w.status.signal == SIGKILL)
        what = "was killed by SIGKILL (the OOM killer, or kill -9)";
    else if (w.status.signal)
        what = severity_of(w.status) == Severity::info ? "was stopped by " + w.status.describe()
                                                       : "crashed with " + w.status.describe();
    else if (w.status.exit_code.value_or(0))
        what = "failed (" + w.status.describe() + ")";
    else
        what = "exited 0 and left init alone";
    const std::string lives_on =
        head + what + " while " + init +
        " lives on: the container stays Running without it, and Kubernetes restarts nothing. ";
    if (w.source)
        return lives_on + line_phrase(*w.source) +
               " started it: make that command the script's last, in the foreground (`" +
               w.source->suggestion + "`), or give the container a liveness probe that fails without it." +
               output_note(f, w);
    return lives_on + "Make it the container's main process (`exec " + join(w.argv, w.comm) +
           "` as the script's last command), or give the container a liveness probe that fails without it." +
           output_note(f, w);
}

std::string stop_diagnosis(const Finding& f) {
    const IgnoredStop& s = *f.stop;
    const std::string sig = signal_name(s.sender.signal);
    return "init `" + join(f.init.argv, f.init.comm) + "` ignored " + describe(s.sender) +
           ": a PID 1 without a handler for " + sig + " does not get it, so the stop waited " +
           util::format_duration(s.waited_ns) + " until " +
           (f.killed_by ? describe(*f.killed_by) : std::string("SIGKILL")) +
           " ended it. Every stop of this container (a rollout, a scale-down, a node drain) waits its whole "
           "grace period, and its processes get no chance to finish their work. Make the server PID 1 "
           "(`exec` it as the script's last command) so that it gets " +
           sig +
           " itself, or run the container with an init that passes it on (tini, dumb-init, `docker run "
           "--init`).";
}

std::string init_diagnosis(const Finding& f) {
    const std::string left = count_phrase(f.live_count);
    const bool ns = f.scope == Scope::pidns;
    std::string who = ns ? "init" : "the container's main process";
    const std::string killer = ns ? "the kernel" : "the runtime";
    // Behind an init shim, the child it waited for is what ended; the shim followed it.
    if (f.entrypoint) {
        const ExitedSummary& e = *f.entrypoint;
        who += " " + util::shell_quote(f.init.comm) + " exited because its child `" + join(e.argv, e.comm) +
               "` " + ending(e.status);
        switch (f.severity) {
            case Severity::warning: {
                if (const LiveProcess* p = sourced(f.live))
                    return who + ", leaving " + left + " it started, so " + killer +
                           " killed them and the container stopped. " + fix_of(*p->source) +
                           output_note(f, *p);
                const LiveProcess* suspect = main_suspect(f.live);
                const std::string how_to = suspect
                                               ? "ideally `exec " + join(suspect->argv, suspect->comm) + "`"
                                               : "ideally with `exec`";
                return who + ", leaving " + left + " it started, so " + killer +
                       " killed them and the container stopped: run the long-lived process in the foreground "
                       "as "
                       "the last command of `" +
                       join(e.argv, e.comm) + "` (" + how_to + ") and put only helpers in the background." +
                       (suspect ? output_note(f, *suspect) : "");
            }
            case Severity::info:
                return who + " while " + left + " still ran; " + killer +
                       " killed them with it. A stop, not a crash loop.";
            case Severity::error:
                return who + " while " + left + " still ran, taking them down with it: fix the crash of `" +
                       join(e.argv, e.comm) + "`.";
        }
    }
    switch (f.severity) {
        case Severity::warning: {
            if (const LiveProcess* p = sourced(f.live))
                return who + " exited on its own (" + f.init.status.describe() + ") while " + left +
                       " it started still ran, so " + killer + " killed them and the container stopped. " +
                       fix_of(*p->source) + output_note(f, *p);
            const LiveProcess* suspect = main_suspect(f.live);
            const std::string how_to =
                suspect ? "ideally `exec " + join(suspect->argv, suspect->comm) + "`" : "ideally with `exec`";
            return who + " exited on its own (" + f.init.status.describe() + ") while " + left +
                   " it started still ran, so " + killer +
                   " killed them and the container stopped: "
                   "run the long-lived process in the foreground as the script's last command (" +
                   how_to + ") and put only helpers in the background." +
                   (suspect ? output_note(f, *suspect) : "");
        }
        case Severity::info:
            return who + " was stopped by " + f.init.status.describe() + " while " + left + " still ran; " +
                   killer + " killed them with it. A stop, not a crash loop" +
                   (ns ? " (a PID 1 without a SIGTERM handler ignores SIGTERM, so stops end in SIGKILL)."
                       : ".");
        case Severity::error:
            return who + " crashed with " + f.init.status.describe() + " while " + left +
                   " still ran, taking them down with it: fix the crash of `" +
                   join(f.init.argv, f.init.comm) + "`.";
    }
    return {};
}

}  // namespace

std::string diagnose(const Finding& f) {
    switch (f.kind) {
        case Kind::init_exit:
            if (!f.killed_by) return init_diagnosis(f);
            // Behind a shim that exited on its own (128+N), the signal was its child's.
            return init_diagnosis(f) +
                   (f.entrypoint && !f.init.status.signal ? " Its child got " : " Init got ") +
                   describe(*f.killed_by) + ".";
        case Kind::worker_exit:
            return worker_diagnosis(f);
        case Kind::stop_ignored:
            return stop_diagnosis(f);
    }
    return {};
}

size_t approximate_output_bytes(const Finding& f) {
    // Field names, numbers, the diagnosis: about a kilobyte; each process listed its argv
    // (escaped: a control byte takes six) and a quarter kilobyte of fields.
    constexpr size_t kBase = 1024, kPerProcess = 256;
    const auto process = [](const ProcessSummary& p) {
        return kPerProcess + p.comm.size() + 2 * p.argv.bytes().size();
    };
    size_t bytes = kBase + f.diagnosis.size() + process(f.init);
    for (const auto& p : f.live) {
        bytes += process(p);
        if (p.started_by) bytes += process(*p.started_by);
    }
    if (f.worker) bytes += process(*f.worker);
    if (f.entrypoint) bytes += process(*f.entrypoint);
    return bytes + f.unlisted.size() * kPerProcess;
}

}  // namespace initwatch::model
