#include "cli/options.h"

#include <initwatch/error.h>
#include <initwatch/version.h>

#include <CLI/CLI.hpp>

namespace initwatch::cli {

namespace {

void add_output_options(CLI::App& app, Options& o) {
    app.add_flag_callback(
        "--json", [&o] { o.format = Format::json; },
        "One JSON object per line (the default of `watch` when stdout is no terminal)");
    app.add_flag_callback(
        "--text", [&o] { o.format = Format::text; }, "Text for people, also into a pipe or file");
    app.add_option("--min-severity", o.min_severity, "Print findings of this severity or higher")
        ->check(CLI::IsMember({"info", "warning", "error"}));
    app.add_flag("--events", o.events, "Also print every fork, exec and exit");
    app.add_option("--color", o.color, "Colour text output: auto (on a terminal), always, never")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, ColorMode>{
                {"auto", ColorMode::automatic}, {"always", ColorMode::always}, {"never", ColorMode::never}},
            CLI::ignore_case))
        ->option_text("auto|always|never");
    app.add_option("-o,--output", o.output_path, "Write the report to FILE instead of stdout");
    app.add_option("--log-level", o.log_level, "Diagnostics on stderr: trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.add_option("--ring-buffer-size", o.ring_buffer_bytes,
                   "Kernel ring buffer size in bytes (power of two, at least a page; default 4 MiB)")
        ->check(CLI::Range(static_cast<size_t>(4096), static_cast<size_t>(1) << 30));
    app.add_option(
           "--redact", o.redact,
           "Mask argv, comm and exec filenames matching REGEX (RE2 syntax; its capture groups, if any) "
           "in every output; repeatable")
        ->allow_extra_args(false);
    app.add_option(
           "--redact-next-after", o.redact_next_after,
           "Mask whole the argument after one that matches REGEX in full (RE2 syntax), as the value of "
           "`--password VALUE`; repeatable")
        ->allow_extra_args(false);
    app.add_option(
        "--host-root", o.host_root,
        "Where the host's / is mounted (a DaemonSet's /host): kubelet logs and cgroup2 are read there");
    app.add_option(
        "--docker-root", o.docker_root,
        "dockerd's --data-root on the host, below --host-root: docker containers' names and images "
        "(default /var/lib/docker)");
    app.add_flag(
        "--termination-message", o.termination_message,
        "Append each finding about a pod to its container's termination message (kubectl describe pod: "
        "Last State, Message); needs <host-root><kubelet-root-dir>/pods writable");
    app.add_flag(
        "--unmask-cluster-secrets", o.unmask_cluster_secrets,
        "Do not mask what looks like a secret (--password=V, --token V, *_KEY=V, user:password@ in "
        "URLs) in Kubernetes Events and termination messages, which `get events`/`get pods` can read; "
        "the node's own output is never masked but by --redact");
    app.add_option("--kubelet-root-dir", o.kubelet_root_dir,
                   "kubelet's --root-dir on the host (default /var/lib/kubelet), under --host-root");
    app.add_option("--node-name", o.node_name,
                   "Node name in findings (default: $NODE_NAME, then the hostname)");
    app.add_option(
           "--max-memory", o.max_memory_bytes,
           "Bytes the process table and the argv store may take (default 64MiB; suffixes KiB, MiB, GiB); "
           "past half of it new argv is kept as a prefix, past all of it processes are counted as lost")
        ->transform(CLI::AsSizeValue(false))
        ->check(CLI::Range(static_cast<size_t>(1) << 20, static_cast<size_t>(1) << 40));
    app.add_option("--max-processes", o.max_processes,
                   "Bound of the process table in processes as well (default: the byte budget alone)")
        ->check(CLI::Range(static_cast<size_t>(16), static_cast<size_t>(1) << 24));
    app.add_option(
           "--max-listed", o.max_listed,
           "Live processes a finding lists one by one (default 200); the others are counted by how and comm")
        ->check(CLI::Range(static_cast<size_t>(1), static_cast<size_t>(100000)));
    app.add_option("--worker-min-age", o.worker_min_age_s,
                   "Seconds a process init started (or that was reparented to init) must have run before its "
                   "end while init lives is a worker_exit finding (default 30)")
        ->check(CLI::Range(0.0, 31'536'000.0));
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
    CLI::App app{
        "initwatch: reports container init processes that exit while the processes "
        "they started are still running (the cause of many CrashLoopBackOffs).\n"
        "Exit status: 0 ok, 2 error of initwatch itself; `run` and `watch -- CMD`: 3 finding, 125 error "
        "of initwatch itself, 126/127 CMD not executable/found, else init's (CMD's) status (its own 3 or "
        "125 become 1); 0 when --timeout stopped it healthy",
        "initwatch"};
    app.footer(
        "Examples:\n"
        "  sudo initwatch                                   watch the host, text for people\n"
        "  sudo initwatch watch --json --metrics-address 127.0.0.1:9090\n"
        "                                                   JSON lines and metrics (a log pipeline)\n"
        "  sudo initwatch run --timeout 5 -- sh startup.sh  CI: an entrypoint as a namespace init\n"
        "  sudo initwatch watch --timeout 10 -- docker run --rm my-app:1.0\n"
        "                                                   CI: judge the containers CMD starts\n"
        "  sudo initwatch check                             the probes this kernel gets\n"
        "More: initwatch(8), docs/usage.md");
    app.set_version_flag("--version", std::string("initwatch ") + kVersion);
    app.require_subcommand(0, 1);
    add_output_options(app, o);

    CLI::App* watch = app.add_subcommand(
        "watch",
        "Trace the whole host until interrupted (the default). With -- CMD, a CI gate: run CMD (e.g. "
        "`docker run IMAGE`), judge the containers born meanwhile, exit 3 if one's init exited leaving "
        "processes behind, else CMD's status");
    CLI::Option* gate_command =
        watch->add_option("command", o.argv, "-- CMD [ARGS...]: run CMD as a child and judge what it starts")
            ->allow_extra_args();
    watch->add_option("--count", o.count, "Exit after N findings")
        ->check(CLI::PositiveNumber)
        ->excludes(gate_command);
    watch->add_option("--duration", o.duration_s, "Exit after SECONDS")
        ->check(CLI::PositiveNumber)
        ->excludes(gate_command);
    watch
        ->add_option(
            "--timeout", o.timeout_s,
            "With CMD: seconds after which a still-running CMD means healthy containers: stop it, exit 0 "
            "unless a finding came")
        ->check(CLI::PositiveNumber)
        ->needs(gate_command);
    watch
        ->add_option(
            "--settle", o.settle_s,
            "With CMD: seconds to go on tracing after CMD ended, for exits that follow it (default 2)")
        ->check(CLI::NonNegativeNumber)
        ->needs(gate_command);
    watch
        ->add_option("--grace", o.stop_grace_s,
                     "With CMD: seconds between SIGTERM and SIGKILL when --timeout stops it (default 5)")
        ->check(CLI::NonNegativeNumber)
        ->needs(gate_command);
    add_output_options(*watch, o);
    watch->footer(
        "Examples:\n"
        "  sudo initwatch watch                             the host until interrupted, text\n"
        "  sudo initwatch watch --json --min-severity warning --count 1\n"
        "                                                   the first warning or error, as a JSON line\n"
        "  sudo initwatch watch --json --metrics-address :9090 --host-root /host --kubernetes-events\n"
        "                                                   as the DaemonSet runs it\n"
        "  sudo initwatch watch --timeout 10 -- docker run --rm my-app:1.0\n"
        "                                                   CI gate: exit 3 on a finding, else docker's "
        "status");
    watch->add_option("--metrics-address", o.metrics_address,
                      "Serve /metrics (Prometheus), /healthz and /readyz on HOST:PORT, [IPV6]:PORT or :PORT");
    watch->add_flag("--kubernetes-events", o.kubernetes_events,
                    "Put each warning or error finding about a pod on the pod as a Warning Event "
                    "(events.k8s.io/v1), where `kubectl describe pod` shows it");
    watch->add_option("--kubeconfig", o.kubeconfig,
                      "With --kubernetes-events: the API server from this kubeconfig (default: $KUBECONFIG, "
                      "then the pod's service account)");

    CLI::App* run =
        app.add_subcommand("run",
                           "Run CMD as PID 1 of new pid and mount namespaces (own /proc, own cgroup), like a "
                           "container's entrypoint; exit 3 if it exits leaving processes behind");
    run->add_option("--timeout", o.timeout_s,
                    "Seconds after which a still-running init counts as healthy: stop it, exit 0")
        ->check(CLI::PositiveNumber);
    run->add_option("--grace", o.stop_grace_s,
                    "On SIGINT/SIGTERM/SIGHUP: seconds between SIGTERM to init and SIGKILL to what is left "
                    "(default 5)")
        ->check(CLI::NonNegativeNumber);
    run->add_option("command", o.argv, "CMD [ARGS...], after --")->required()->allow_extra_args();
    run->prefix_command(false);
    add_output_options(*run, o);
    run->footer(
        "Examples:\n"
        "  sudo initwatch run -- sh examples/story/2-server-backgrounded.sh\n"
        "                                                   the story's script: a finding, exit 3\n"
        "  sudo initwatch run --timeout 5 --json -o report.json -- sh startup.sh\n"
        "                                                   CI: still running after 5 s is healthy (exit 0)");

    CLI::App* check = app.add_subcommand(
        "check", "Load and attach the probes, print which probes and fallbacks this kernel gets, exit");
    add_output_options(*check, o);
    check->footer(
        "Examples:\n"
        "  sudo initwatch check                             probes, fallbacks and kernel features\n"
        "  sudo initwatch check --exit-probe live-count     the exit fallback of kernels before 6.16");

    // `watch -- CMD` wraps a command, as `run` does: its own errors are 125 (2 is a command's).
    bool double_dash = false;
    for (int i = 1; i < argc; ++i) double_dash |= std::string(argv[i]) == "--";
    auto usage_error = [&](const std::string& what) {
        std::fprintf(stderr, "initwatch: %s (see initwatch --help)\n", what.c_str());
        const bool gate = watch->parsed() && (double_dash || !o.argv.empty());
        return run->parsed() || gate ? kExitRunError : kExitError;
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::Success& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        const std::string what = e.what();
        return usage_error(what.empty() ? e.get_name() : what);
    }
    o.command = run->parsed() ? Command::run : check->parsed() ? Command::check : Command::watch;
    if (o.command == Command::watch && !o.argv.empty()) {
        if (!double_dash)
            return usage_error("watch: put -- before the command to run: watch [OPTIONS] -- CMD");
        // The report goes beside CMD's own output, into a CI log for people: text unless --json.
        if (o.format == Format::automatic) o.format = Format::text;
    }
    return -1;
}

}  // namespace initwatch::cli
