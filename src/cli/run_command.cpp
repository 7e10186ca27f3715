#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstring>

#include <initwatch/error.h>

#include "cli/commands.h"
#include "cli/launcher.h"
#include "cli/session.h"
#include "cli/signals.h"
#include "model/exit_status.h"
#include "report/clock.h"
#include "report/escape.h"

namespace initwatch::cli {

namespace {

// The wait status as the model decodes a kernel exit code: same layout.
model::ExitStatus decode_wait(int status) { return model::ExitStatus::decode(static_cast<uint32_t>(status)); }

}  // namespace

int run_command(const Options& options) {
    Session session(options);  // probes attached before the init exists: nothing is missed
    NamespaceLauncher launcher(options.argv, session.cgroup2_root());
    const std::string shown = report::format_command(session.redacted(options.argv), "", false);

    if (const int err = launcher.start()) {
        launcher.wait();
        std::fprintf(stderr, "initwatch: cannot run %s: %s\n", shown.c_str(), std::strerror(err));
        return err == ENOENT ? kExitNotFound : 126;
    }
    const pid_t init_pid = launcher.pid();
    spdlog::info("started {} as pid 1 of a new namespace (host pid {})", shown, init_pid);

    const uint64_t start = report::monotonic_now_ns();
    const uint64_t timeout_ns = static_cast<uint64_t>(options.timeout_s * 1e9);
    bool found = false;
    auto report_ours = [&](std::vector<model::Finding> findings) {
        for (auto& f : findings) {
            if (f.init.pid != static_cast<uint32_t>(init_pid)) continue;
            session.report(std::move(f));
            found = true;
        }
    };

    std::optional<int> status;
    while (!status) {
        report_ours(session.step(50));
        status = launcher.try_wait();
        if (status) break;
        if (const int sig = stop_requested()) {
            launcher.kill_all();
            launcher.wait();
            return 128 + sig;
        }
        if (timeout_ns && report::monotonic_now_ns() - start >= timeout_ns) {
            // Our own SIGKILL is no finding: a long-running init is the healthy case.
            launcher.kill_all();
            launcher.wait();
            std::fprintf(stderr, "initwatch: %s still running after %gs: healthy, stopped it\n",
                         shown.c_str(), options.timeout_s);
            return kExitOk;
        }
    }
    // The init's exit record is in the ring before the init can be reaped: drain it.
    report_ours(session.step(0));

    const model::ExitStatus exit = decode_wait(*status);
    if (found) return kExitFinding;
    std::fprintf(stderr, "initwatch: %s ended (%s) after %s, leaving nothing running\n", shown.c_str(),
                 exit.describe().c_str(), report::format_duration(report::monotonic_now_ns() - start).c_str());
    return exit.shell_status();
}

}  // namespace initwatch::cli
