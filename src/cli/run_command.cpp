#include <initwatch/error.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>

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
        std::fprintf(stderr, "initwatch: cannot run %s: %s\n", shown.c_str(), util::errno_text(err).c_str());
        return err == ENOENT ? kExitNotFound : kExitCannotExecute;
    }
    const pid_t init_pid = launcher.pid();
    spdlog::info("started {} as pid 1 of a new namespace (host pid {})", shown, init_pid);

    const uint64_t start = util::monotonic_now_ns();
    const uint64_t timeout_ns = static_cast<uint64_t>(options.timeout_s * 1e9);
    const uint64_t reap_wait_ns = static_cast<uint64_t>(launch::kKillWaitSeconds * 1e9);
    // A finding wins the exit status, whatever comes after it. A worker stopped or restarted
    // by its supervisor (info) is no failure; init's own finding also says init has exited.
    bool failed = false;
    uint64_t found_at = 0;  // init's finding
    auto report_ours = [&](std::vector<model::Finding> findings) {
        for (auto& f : findings) {
            if (f.init.pid != static_cast<uint32_t>(init_pid)) continue;
            const bool about_init = f.kind == model::Kind::init_exit;
            failed |= about_init || f.severity != model::Severity::info;
            pipeline.report(std::move(f));
            if (about_init && !found_at) found_at = util::monotonic_now_ns();
        }
    };

    // Everything in the ring up to now, also past one step's byte bound (the ring holds at
    // most its size of records: a bounded number of steps).
    const size_t max_drain_steps = pipeline.max_drain_steps();
    auto drain = [&] {
        size_t steps = 0;
        do report_ours(pipeline.step(0));
        while (pipeline.backlog() && ++steps < max_drain_steps);
        report_ours(pipeline.finish());
    };

    std::optional<int> status;
    while (!status) {
        report_ours(pipeline.step(50));
        status = launcher.try_wait();
        if (status) break;
        if (const int sig = stop_requested()) {
            drain();  // what happened before the signal still counts
            spdlog::info("{}: stopping {} (SIGTERM, then SIGKILL after {}s)", model::signal_name(sig), shown,
                         options.stop_grace_s);
            launcher.stop(options.stop_grace_s, stop_hurried);
            return failed ? kExitFinding : 128 + sig;
        }
        const uint64_t now = util::monotonic_now_ns();
        if (timeout_ns && now - start >= timeout_ns) {
            // A worker's end still waiting for a supervisor's restart is judged first.
            while (pipeline.workers_pending() &&
                   util::monotonic_now_ns() - now < model::Tracker::kRestartWindowNs)
                report_ours(pipeline.step(50));
            drain();
            // Our own SIGKILL is no finding: a long-running init is the healthy case. It has
            // had its verdict, so it gets no grace.
            launcher.kill_all();
            if (failed) return kExitFinding;
            std::fprintf(stderr, "initwatch: %s still running after %gs: healthy, stopped it\n",
                         shown.c_str(), options.timeout_s);
            return kExitOk;
        }
        // Init has exited but cannot be reaped (a process of its namespace the kernel cannot
        // finish killing, e.g. a zombie whose parent outside does not reap it): do not wait
        // for ever, the verdict is made.
        if (found_at && now - found_at >= reap_wait_ns) {
            spdlog::warn("init (pid {}) exited {}s ago and is still not reaped; stopping", init_pid,
                         launch::kKillWaitSeconds);
            launcher.kill_all();
            return kExitFinding;
        }
    }
    // The init's exit record is in the ring before the init can be reaped: drain it.
    drain();

    const model::ExitStatus exit = launch::decode_wait(*status);
    if (failed) return kExitFinding;
    const int code = launch::entrypoint_status(exit);
    std::fprintf(stderr, "initwatch: %s ended (%s) after %s, leaving nothing running%s\n", shown.c_str(),
                 exit.describe().c_str(), util::format_duration(util::monotonic_now_ns() - start).c_str(),
                 code != exit.shell_status() ? "; exit status 1 (3 and 125 are initwatch's own)" : "");
    return code;
}

}  // namespace initwatch::cli
