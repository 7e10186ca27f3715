#include <initwatch/error.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>

#include "cli/closing.h"
#include "cli/commands.h"
#include "cli/session.h"
#include "cli/signals.h"
#include "launch/child_process.h"
#include "launch/namespace_launcher.h"
#include "model/exit_status.h"
#include "report/escape.h"
#include "util/errno_text.h"
#include "util/time.h"

namespace initwatch::cli {

int run_command(const Options& options) {
    // A second signal must hurry the stop, not skip it: the cgroup would be left behind.
    keep_running_on_second_signal();
    Session session(options);  // probes attached before the init exists: nothing is missed
    pipeline::Pipeline& pipeline = session.pipeline();
    launch::NamespaceLauncher launcher(options.argv, pipeline.cgroup2_root());
    const std::string shown = report::format_command(pipeline.redacted(options.argv), "", false);

    if (const int err = launcher.start()) {
        launcher.wait_for(launch::kKillWaitSeconds);  // the child exits right after the failed exec
        return close_with(err == ENOENT ? kExitNotFound : kExitCannotExecute,
                          "cannot run " + shown + ": " + util::errno_text(err));
    }
    const pid_t init_pid = launcher.pid();
    spdlog::info("started {} as pid 1 of a new namespace (host pid {})", shown, init_pid);

    const uint64_t start = util::monotonic_now_ns();
    const uint64_t timeout_ns = static_cast<uint64_t>(options.timeout_s * 1e9);
    const uint64_t reap_wait_ns = static_cast<uint64_t>(launch::kKillWaitSeconds * 1e9);
    // A finding wins the exit status, whatever comes after it. A worker stopped or restarted
    // by its supervisor (info) is no failure; init's own finding also says init has exited.
    size_t failures = 0;
    uint64_t found_at = 0;  // init's finding
    auto report_ours = [&](std::vector<model::Finding> findings) {
        for (auto& f : findings) {
            if (f.init.pid != static_cast<uint32_t>(init_pid)) continue;
            bool about_init = false;  // init's own finding also says init has exited
            switch (f.kind) {
                case model::Kind::init_exit:
                    about_init = true;
                    break;
                case model::Kind::worker_exit:
                case model::Kind::stop_ignored:  // info: said, no failure
                    break;
            }
            failures += about_init || f.severity != model::Severity::info;
            pipeline.report(std::move(f));
            if (about_init && !found_at) found_at = util::monotonic_now_ns();
        }
    };
    // What the ring holds up to now, and the findings still held for a restart window.
    auto drain = [&] {
        report_ours(pipeline.drain());
        report_ours(pipeline.finish());
    };
    const auto findings_text = [&] {
        return std::to_string(failures) + (failures == 1 ? " finding" : " findings") + " about " + shown;
    };

    std::optional<int> status;
    while (!status) {
        report_ours(pipeline.step(50));
        status = launcher.try_wait();
        if (status) break;
        if (const int sig = stop_requested()) {
            drain();  // what happened before the signal still counts
            const std::string cause = stop_cause();
            spdlog::info("{}: stopping {} (SIGTERM, then SIGKILL after {}s)", cause, shown,
                         options.stop_grace_s);
            launcher.stop(options.stop_grace_s, stop_hurried);
            return close_with(
                failures ? kExitFinding : 128 + sig,
                cause + ": stopped " + shown + (failures ? "; " + findings_text() + " before" : ""));
        }
        const uint64_t now = util::monotonic_now_ns();
        if (timeout_ns && now - start >= timeout_ns) {
            // A worker's end still waiting for a supervisor's restart is judged first.
            report_ours(pipeline.settle_workers());
            drain();
            // Our own SIGKILL is no finding: a long-running init is the healthy case. It has
            // had its verdict, so it gets no grace.
            launcher.kill_all();
            if (failures) return close_with(kExitFinding, findings_text() + ", stopped it at --timeout");
            if (const auto lost = pipeline.records_lost(); !lost.empty())
                return close_with(kExitCannotTell, shown + " still running after " +
                                                       util::format_seconds(options.timeout_s) +
                                                       ", stopped it; " + cannot_tell(lost));
            return close_with(kExitOk, shown + " still running after " +
                                           util::format_seconds(options.timeout_s) + ": healthy, stopped it");
        }
        // Init has exited but cannot be reaped (a process of its namespace the kernel cannot
        // finish killing, e.g. a zombie whose parent outside does not reap it): do not wait
        // for ever, the verdict is made.
        if (found_at && now - found_at >= reap_wait_ns) {
            spdlog::warn("init (pid {}) exited {}s ago and is still not reaped; stopping", init_pid,
                         launch::kKillWaitSeconds);
            launcher.kill_all();
            return close_with(kExitFinding, findings_text() + "; its init could not be reaped");
        }
    }
    // The init's exit record is in the ring before the init can be reaped: drain it.
    drain();

    const model::ExitStatus exit = launch::decode_wait(*status);
    const std::string ended = shown + " ended (" + exit.describe() + ") after " +
                              util::format_duration(util::monotonic_now_ns() - start);
    if (failures) return close_with(kExitFinding, ended + "; " + findings_text());
    // No finding, but the record that would have made one may be among those lost.
    if (const auto lost = pipeline.records_lost(); !lost.empty())
        return close_with(kExitCannotTell, ended + "; " + cannot_tell(lost));
    const int code = launch::entrypoint_status(exit);
    return close_with(
        code, ended + ", leaving nothing running" +
                  (code != exit.shell_status() ? " (3, 4 and 125 are initwatch's own: 1 instead)" : ""));
}

}  // namespace initwatch::cli
