#include "cli/options.h"

#include <CLI/CLI.hpp>

#include <initwatch/error.h>
#include <initwatch/version.h>

namespace initwatch::cli {

namespace {

void add_output_options(CLI::App& app, Options& o) {
    app.add_flag_callback("--json", [&o] { o.format = Format::json; },
                          "One JSON object per line (the default of `watch` when stdout is no terminal)");
    app.add_flag_callback("--text", [&o] { o.format = Format::text; }, "Text for people, also into a pipe or file");
    app.add_option("--min-severity", o.min_severity, "Print findings of this severity or higher")
        ->check(CLI::IsMember({"info", "warning", "error"}));
    app.add_flag("--events", o.events, "Also print every fork, exec and exit");
    app.add_option("--color", o.color, "Colour text output: auto (on a terminal), always, never")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, ColorMode>{{"auto", ColorMode::automatic},
                                             {"always", ColorMode::always},
                                             {"never", ColorMode::never}},
            CLI::ignore_case))
        ->option_text("auto|always|never");
    app.add_option("-o,--output", o.output_path, "Write the report to FILE instead of stdout");
    app.add_option("--log-level", o.log_level, "Diagnostics on stderr: trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_option("--ring-buffer-size", o.ring_buffer_bytes,
                   "Kernel ring buffer size in bytes (power of two, at least a page; default 4 MiB)")
        ->check(CLI::Range(static_cast<size_t>(4096), static_cast<size_t>(1) << 30));
    app.add_option("--redact", o.redact,
                   "Mask argv, comm and exec filenames matching REGEX (RE2 syntax; its capture groups, if any) "
                   "in every output; repeatable")
        ->allow_extra_args(false);
    app.add_option("--redact-next-after", o.redact_next_after,
                   "Mask whole the argument after one that matches REGEX in full (RE2 syntax), as the value of "
                   "`--password VALUE`; repeatable")
        ->allow_extra_args(false);
    app.add_option("--host-root", o.host_root,
                   "Where the host's / is mounted (a DaemonSet's /host): kubelet logs and cgroup2 are read there");
    app.add_flag("--termination-message", o.termination_message,
                 "Append each finding about a pod to its container's termination message (kubectl describe pod: "
                 "Last State, Message); needs <host-root><kubelet-root-dir>/pods writable");
    app.add_option("--kubelet-root-dir", o.kubelet_root_dir,
                   "kubelet's --root-dir on the host (default /var/lib/kubelet), under --host-root");
    app.add_option("--node-name", o.node_name, "Node name in findings (default: $NODE_NAME, then the hostname)");
    app.add_option("--max-memory", o.max_memory_bytes,
                   "Bytes the process table and the argv store may take (default 64MiB; suffixes KiB, MiB, GiB); "
                   "past half of it new argv is kept as a prefix, past all of it processes are counted as lost")
        ->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(static_cast<size_t>(1) << 20, static_cast<size_t>(1) << 40));
    app.add_option("--max-processes", o.max_processes,
                   "Bound of the process table in processes as well (default: the byte budget alone)")
        ->check(CLI::Range(static_cast<size_t>(16), static_cast<size_t>(1) << 24));
    app.add_option("--max-listed", o.max_listed,
                   "Live processes a finding lists one by one (default 200); the others are counted by how and comm")
        ->check(CLI::Range(static_cast<size_t>(1), static_cast<size_t>(100000)));
    app.add_option("--btf", o.btf_path, "Kernel BTF file (default: /sys/kernel/btf/vmlinux)");
    app.add_option("--exit-probe", o.exit_probe,
                   "How a process's end is detected: auto, group-dead (6.16+), live-count (any kernel)")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, probe::ExitProbe>{{"auto", probe::ExitProbe::automatic},
                                                    {"group-dead", probe::ExitProbe::group_dead},
                                                    {"live-count", probe::ExitProbe::live_count}}))
        ->option_text("auto|group-dead|live-count");
}

}  // namespace

int parse_command_line(int argc, char** argv, Options& o) {
    CLI::App app{"initwatch: reports container init processes that exit while the processes "
                 "they started are still running (the cause of many CrashLoopBackOffs).\n"
                 "Exit status: 0 ok, 2 error of initwatch itself; `run`: 3 finding, 125 error of initwatch "
                 "itself, 126/127 CMD not executable/found, else init's status (its own 3 or 125 become 1)",
                 "initwatch"};
    app.set_version_flag("--version", std::string("initwatch ") + kVersion);
    app.require_subcommand(0, 1);
    add_output_options(app, o);

    CLI::App* watch = app.add_subcommand("watch", "Trace the whole host until interrupted (the default)");
    watch->add_option("--count", o.count, "Exit after N findings")->check(CLI::PositiveNumber);
    watch->add_option("--duration", o.duration_s, "Exit after SECONDS")->check(CLI::PositiveNumber);
    add_output_options(*watch, o);
    watch->add_option("--metrics-address", o.metrics_address,
                      "Serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT, [IPV6]:PORT or :PORT");

    CLI::App* run = app.add_subcommand(
        "run", "Run CMD as PID 1 of new pid and mount namespaces (own /proc, own cgroup), like a "
               "container's entrypoint; exit 3 if it exits leaving processes behind");
    run->add_option("--timeout", o.timeout_s,
                    "Seconds after which a still-running init counts as healthy: stop it, exit 0")
        ->check(CLI::PositiveNumber);
    run->add_option("--grace", o.stop_grace_s,
                    "On SIGINT/SIGTERM/SIGHUP: seconds between SIGTERM to init and SIGKILL to what is left (default 5)")
        ->check(CLI::NonNegativeNumber);
    run->add_option("command", o.argv, "CMD [ARGS...], after --")->required()->allow_extra_args();
    run->prefix_command(false);
    add_output_options(*run, o);

    CLI::App* check = app.add_subcommand(
        "check", "Load and attach the probes, print which probes and fallbacks this kernel gets, exit");
    add_output_options(*check, o);

    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        const std::string what = e.what();
        std::fprintf(stderr, "initwatch: %s (see initwatch --help)\n",
                     what.empty() ? e.get_name().c_str() : what.c_str());
        return run->parsed() ? kExitRunError : kExitError;
    }
    o.command = run->parsed() ? Command::run : check->parsed() ? Command::check : Command::watch;
    return -1;
}

}  // namespace initwatch::cli
