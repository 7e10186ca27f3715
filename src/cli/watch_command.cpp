#include <initwatch/error.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/commands.h"
#include "cli/session.h"
#include "cli/signals.h"
#include "launch/child_process.h"
#include "report/escape.h"
#include "util/errno_text.h"
#include "util/time.h"

namespace initwatch::cli {

namespace {

// The gate judges what CMD may have started: a pid namespace whose init was born after the
// probes attached, or (for a container without a namespace of its own) a cgroup that held no
// process of the startup snapshot. Containers that ran before are someone else's.
bool born_after_attach(const model::Finding& f, const pipeline::Pipeline& pipeline) {
    if (f.init.from_snapshot) return false;
    return f.scope == model::Scope::pidns || !pipeline.cgroup_seen_at_start(f.cgroup_id);
}

// A stop by SIGTERM/SIGINT/SIGKILL (info) is how a healthy container ends: no verdict.
bool fails_the_gate(const model::Finding& f) { return f.severity != model::Severity::info; }

uint64_t to_ns(double seconds) { return static_cast<uint64_t>(seconds * 1e9); }

// `watch [--timeout S] [--settle S] [--grace S] -- CMD`: attach, run CMD as an ordinary
// child, end once CMD has ended and --settle has passed, judge what was born meanwhile.
int gate(const Options& options) {
    Session session(options);  // attached and the startup snapshot taken before CMD exists
    pipeline::Pipeline& pipeline = session.pipeline();
    const std::string shown = report::format_command(pipeline.redacted(options.argv), "", false);
    launch::ChildProcess child(options.argv);

    size_t failures = 0;
    auto judge = [&](std::vector<model::Finding> findings) {
        for (auto& f : findings) {
            if (!born_after_attach(f, pipeline)) {
                spdlog::info("not judged: init {} of cgroup id {} (pidns {}) ran before initwatch attached",
                             f.init.pid, f.cgroup_id, f.pidns_inum);
                continue;
            }
            if (fails_the_gate(f)) ++failures;
            pipeline.report(std::move(f));
        }
    };
    auto tick = [&] { judge(pipeline.step(50)); };
    // Everything in the ring up to now, also past one step's byte bound (the ring holds at
    // most its size of records: a bounded number of steps).
    auto drain = [&] {
        size_t steps = 0;
        do judge(pipeline.step(0));
        while (pipeline.backlog() && ++steps < pipeline.max_drain_steps());
    };

    if (const int sig = stop_requested()) return 128 + sig;  // while attaching: CMD never ran
    if (const int err = child.start()) {
        std::fprintf(stderr, "initwatch: cannot run %s: %s\n", shown.c_str(), util::errno_text(err).c_str());
        return err == ENOENT ? kExitNotFound : kExitCannotExecute;
    }
    child.forward_signals();
    if (const int sig = stop_requested()) ::kill(child.pid(), sig);  // came just before forwarding began
    spdlog::info("started {} (pid {}); judging the containers born from now on", shown, child.pid());

    const uint64_t start = util::monotonic_now_ns();
    std::optional<int> status;
    while (!(status = child.try_wait())) {
        tick();
        if (options.timeout_s > 0 && util::monotonic_now_ns() - start >= to_ns(options.timeout_s)) {
            // What came before the timeout decides; a worker's end waits for its restart window.
            const uint64_t now = util::monotonic_now_ns();
            while (pipeline.workers_pending() &&
                   util::monotonic_now_ns() - now < model::Tracker::kRestartWindowNs)
                tick();
            drain();
            std::fprintf(stderr, "initwatch: %s still running after %gs: %s; stopping it\n", shown.c_str(),
                         options.timeout_s, failures ? "a finding came" : "healthy");
            child.stop(options.stop_grace_s, tick);
            drain();
            judge(pipeline.finish());
            return failures ? kExitFinding : kExitOk;
        }
    }
    const uint64_t ended = util::monotonic_now_ns();
    // A container's init may exit just after the command that started it (a runtime that
    // returns first, a detached run).
    while (util::monotonic_now_ns() - ended < to_ns(options.settle_s)) tick();
    drain();
    judge(pipeline.finish());

    const model::ExitStatus exit = launch::decode_wait(*status);
    const std::string ran = util::format_duration(ended - start);
    if (failures) {
        std::fprintf(stderr,
                     "initwatch: %s ended (%s) after %s; %zu finding%s about the containers born meanwhile\n",
                     shown.c_str(), exit.describe().c_str(), ran.c_str(), failures, failures == 1 ? "" : "s");
        return kExitFinding;
    }
    const int code = launch::entrypoint_status(exit);
    std::fprintf(stderr,
                 "initwatch: %s ended (%s) after %s; no container born meanwhile left processes behind%s\n",
                 shown.c_str(), exit.describe().c_str(), ran.c_str(),
                 code != exit.shell_status() ? "; exit status 1 (3 and 125 are initwatch's own)" : "");
    return code;
}

}  // namespace

int watch_command(const Options& options) {
    if (!options.argv.empty()) {
        // Like `run`, the gate wraps a command: its own errors are 125, not 2 (a command's).
        try {
            return gate(options);
        } catch (const Error& e) {
            std::fprintf(stderr, "initwatch: %s\n", e.what());
        } catch (const std::exception& e) {
            std::fprintf(stderr, "initwatch: internal error: %s\n", e.what());
        }
        return kExitRunError;
    }
    Session session(options);
    pipeline::Pipeline& pipeline = session.pipeline();
    if (isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && options.format != Format::json)
        std::fprintf(stderr,
                     "initwatch: watching every process on this host; a container init that exits "
                     "leaving processes behind is reported here (Ctrl-C to stop)\n");
    const uint64_t start = util::monotonic_now_ns();
    const uint64_t duration_ns = static_cast<uint64_t>(options.duration_s * 1e9);
    uint64_t found = 0;
    while (!stop_requested() && !pipeline.sinks_broken()) {
        for (auto& f : pipeline.step(100)) {
            pipeline.report(std::move(f));
            ++found;
        }
        if (options.count && found >= options.count) break;
        if (duration_ns && util::monotonic_now_ns() - start >= duration_ns) break;
    }
    for (auto& f : pipeline.finish()) pipeline.report(std::move(f));
    return kExitOk;
}

}  // namespace initwatch::cli
