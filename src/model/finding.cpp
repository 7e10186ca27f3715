#include "model/finding.h"

#include <csignal>

#include "model/command_line.h"
#include "util/shell_quote.h"

namespace initwatch::model {

const char* to_string(Severity s) {
    switch (s) {
        case Severity::info: return "info";
        case Severity::warning: return "warning";
        case Severity::error: return "error";
    }
    return "unknown";
}

const char* to_string(How h) {
    switch (h) {
        case How::background: return "background";
        case How::reparented: return "reparented";
        case How::descendant: return "descendant";
        case How::entered: return "entered";
    }
    return "unknown";
}

const char* to_string(Scope s) {
    switch (s) {
        case Scope::pidns: return "pidns";
        case Scope::cgroup: return "cgroup";
    }
    return "unknown";
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
        case SIGKILL: return Severity::info;
        default: return Severity::error;
    }
}

namespace {

std::string join(const Argv& argv, const std::string& fallback) {
    return argv.empty() ? util::shell_quote(fallback) : shell_join(argv);
}

std::string count_phrase(size_t n) {
    return std::to_string(n) + (n == 1 ? " process" : " processes");
}

// The process most likely meant to run forever: the oldest program init put in the
// background. A fork that has not exec'd yet says nothing of what it was going to run.
const LiveProcess* main_suspect(const std::vector<LiveProcess>& live) {
    for (How how : {How::background, How::reparented, How::descendant})
        for (const auto& p : live)
            if (p.how == how && p.execed) return &p;
    return nullptr;
}

}  // namespace

std::string diagnose(const Finding& f) {
    const std::string left = count_phrase(f.live_count);
    const bool ns = f.scope == Scope::pidns;
    const std::string who = ns ? "init" : "the container's main process";
    const std::string killer = ns ? "the kernel" : "the runtime";
    switch (f.severity) {
        case Severity::warning: {
            const LiveProcess* suspect = main_suspect(f.live);
            const std::string how_to = suspect ? "ideally `exec " + join(suspect->argv, suspect->comm) + "`"
                                               : "ideally with `exec`";
            return who + " exited on its own (" + f.init.status.describe() + ") while " + left +
                   " it started still ran, so " + killer + " killed them and the container stopped: "
                   "run the long-lived process in the foreground as the script's last command (" +
                   how_to + ") and put only helpers in the background.";
        }
        case Severity::info:
            return who + " was stopped by " + f.init.status.describe() + " while " + left + " still ran; " +
                   killer + " killed them with it. A stop, not a crash loop" +
                   (ns ? " (a PID 1 without a SIGTERM handler ignores SIGTERM, so stops end in SIGKILL)." : ".");
        case Severity::error:
            return who + " crashed with " + f.init.status.describe() + " while " + left +
                   " still ran, taking them down with it: fix the crash of `" +
                   join(f.init.argv, f.init.comm) + "`.";
    }
    return {};
}

}  // namespace initwatch::model
