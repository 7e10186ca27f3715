#include <initwatch/error.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/closing.h"
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
    const auto findings_text = [&] {
        return std::to_string(failures) + (failures == 1 ? " finding" : " findings") +
               " about the containers born meanwhile";
    };

    if (const int sig = stop_requested())  // while attaching: CMD never ran
        return close_with(128 + sig, stop_cause() + " before " + shown + " started");
    if (const int err = child.start())
        return close_with(err == ENOENT ? kExitNotFound : kExitCannotExecute,
                          "cannot run " + shown + ": " + util::errno_text(err));
    child.forward_signals();
    if (const int sig = stop_requested()) ::kill(child.pid(), sig);  // came just before forwarding began
    spdlog::info("started {} (pid {}); judging the containers born from now on", shown, child.pid());

    const uint64_t start = util::monotonic_now_ns();
    std::optional<int> status;
    while (!(status = child.try_wait())) {
        tick();
        if (options.timeout_s > 0 && util::monotonic_now_ns() - start >= to_ns(options.timeout_s)) {
            // What came before the timeout decides; a worker's end waits for its restart window.
            judge(pipeline.settle_workers());
            judge(pipeline.drain());
            spdlog::info("{} still running after {}: {}; stopping it", shown,
                         util::format_seconds(options.timeout_s), failures ? "a finding came" : "healthy");
            child.stop(options.stop_grace_s, tick);
            judge(pipeline.drain());
            judge(pipeline.finish());
            const std::string ran = shown + " still running after " + util::format_seconds(options.timeout_s);
            if (failures) return close_with(kExitFinding, ran + ", stopped it; " + findings_text());
            if (const auto lost = pipeline.records_lost(); !lost.empty())
                return close_with(kExitCannotTell, ran + ", stopped it; " + cannot_tell(lost));
            return close_with(kExitOk, ran + ": healthy; stopped it");
        }
    }
    const uint64_t ended = util::monotonic_now_ns();
    // A container's init may exit just after the command that started it (a runtime that
    // returns first, a detached run).
    while (util::monotonic_now_ns() - ended < to_ns(options.settle_s)) tick();
    judge(pipeline.drain());
    judge(pipeline.finish());

    const model::ExitStatus exit = launch::decode_wait(*status);
    const std::string ran =
        shown + " ended (" + exit.describe() + ") after " + util::format_duration(ended - start);
    if (failures) return close_with(kExitFinding, ran + "; " + findings_text());
    // No finding, but the record that would have made one may be among those lost.
    if (const auto lost = pipeline.records_lost(); !lost.empty())
        return close_with(kExitCannotTell, ran + "; " + cannot_tell(lost));
    const int code = launch::entrypoint_status(exit);
    return close_with(
        code, ran + "; no container born meanwhile left processes behind" +
                  (code != exit.shell_status() ? " (3, 4 and 125 are initwatch's own: 1 instead)" : ""));
}

}  // namespace

int watch_command(const Options& options) {
    if (!options.argv.empty()) {
        // Like `run`, the gate wraps a command: its own errors are 125, not 2 (a command's).
        try {
            return gate(options);
        } catch (const Error& e) {
            return close_with(kExitRunError, e.what());
        } catch (const std::exception& e) {
            return close_with(kExitRunError, std::string("internal error: ") + e.what());
        }
    }
    Session session(options);
    pipeline::Pipeline& pipeline = session.pipeline();
    if (isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && options.format != Format::json)
        std::fprintf(stderr,
                     "initwatch: watching every process on this host; a container init that exits "
                     "leaving processes behind is reported here (Ctrl-C to stop)\n");
    const uint64_t start = util::monotonic_now_ns();
    const uint64_t duration_ns = to_ns(options.duration_s);
    uint64_t found = 0;
    int status = kExitOk;
    std::string why;
    for (;;) {
        if (stop_requested()) {
            why = stop_cause();
            break;
        }
        if (auto broken = pipeline.broken_sink()) {
            why = *broken;
            status = kExitError;
            break;
        }
        for (auto& f : pipeline.step(100)) {
            pipeline.report(std::move(f));
            ++found;
        }
        if (options.count && found >= options.count) {
            why = std::to_string(found) + (found == 1 ? " finding" : " findings") + " (--count " +
                  std::to_string(options.count) + ")";
            break;
        }
        if (duration_ns && util::monotonic_now_ns() - start >= duration_ns) {
            why = "--duration " + util::format_seconds(options.duration_s) + " passed";
            break;
        }
    }
    // What happened before the stop still counts: the ring up to now, and the findings held
    // for a restart window.
    for (auto& f : pipeline.drain()) pipeline.report(std::move(f));
    for (auto& f : pipeline.finish()) pipeline.report(std::move(f));
    return close_with(status, "watch stopped after " +
                                  util::format_duration(util::monotonic_now_ns() - start) + ": " + why);
}

}  // namespace initwatch::cli
