"""tools/bench's command line: options, the order of the phases, clean-up on any exit,
the report and the exit status."""

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from .base import BenchError, Interrupted, write
from .machine import Machine
from .phases import ALL_PHASES, FINE_PAIRS, TRACERS, Bench
from .report import report

DOC = """
Measures what initwatch costs the machine it watches, next to bpftrace and bcc's exitsnoop:

  1. spawn storms (fork+exec+exit of /bin/true by 1 and 2 spawners, fork-only, threads),
     interleaved A B C A B C ... under: nothing attached, `initwatch watch`,
     `initwatch watch --events --json`, bpftrace on the same three tracepoints, bcc's
     exitsnoop (bcc's execsnoop needs kprobes): wall time per spawn and ratio to nothing
     attached, the tracer's CPU (utime+stime) and peak RSS (VmHWM), initwatch's lost events;
  2. BPF run time per program invocation (kernel.bpf_stats_enabled, bpftool prog show);
  3. detection latency: 200 namespace inits exiting with a child left, from the kernel
     timestamp of init's exit to the finding's arrival on a pipe (p50/p99);
  4. start-up and scale: time to "probes attached" with 10,000 live processes in pid
     namespaces, initwatch's RSS with 10,000 and 50,000 tracked processes;
  5. argv shapes: one pid namespace's init exits 0 leaving 1,000 processes exec'd with
     4,095 bytes of empty arguments and 1,000 with one 4 KiB argument: initwatch's peak
     RSS, the time from init's exit to the finding read, the finding's size (3 runs);
  6. memory per process: initwatch's RSS with 10,000 and 50,000 processes exec'd with a
     short argv, then with a 4 KiB one: (RSS_N - RSS_idle) / N;
  7. container churn: runc containers (busybox-static), 20 a second for 60 s, half the
     story's backgrounded server, half healthy: initwatch's CPU, lost events, each failing
     container reported exactly once and no healthy one, RSS before and after;
  8. a signal flood: 200,000 SIGUSR1 to a process that handles it (the signal_generate
     program's filter every time), then an exec storm beside such a flood, nothing attached
     vs `initwatch watch`: ns per signal, per exec, and the program's BPF ns per run.

--quick (CI, under a minute): nothing vs `initwatch watch` only, few repetitions, one argv
run, memory with 5,000 processes per shape, churn for 5 s at 10 a second, 50,000 signals, no paired,
latency or scale phase; exits 1 if initwatch lost any event, never because of a timing.

On a shared machine: the bench and all it starts run at nice -20 in a cgroup with the
largest CPU weight (--no-priority: not), the CPU other processes use meanwhile is
measured, and a storm run during which they used more than --max-background % of a CPU,
or during which other tools' BPF programs were attached to the process tracepoints, is
run again (up to 3 times, full mode only); the report says how much noise was left.

Every process started runs in a cgroup of its own that is killed at the end (also on
Ctrl-C), and so are the churn's containers (runc delete -f) and their cgroups in every
hierarchy; sysctls changed (kernel.bpf_stats_enabled, kernel.pid_max) are restored, and a
tracefs mounted for bpftrace/bcc is unmounted. initwatch and spawn_storm are built from the
main CMake project (-DINITWATCH_BENCH=ON) in build-bench/ (INITWATCH_BENCH_BUILD_DIR
overrides); packages are installed through tools/apt-install. Kernel headers for bcc (Debian's 6.12
headers when the running kernel has none) are cached in /var/cache/initwatch-bench
(INITWATCH_BENCH_CACHE overrides). Exit status: 0 done, 1 initwatch lost events,
2 the benchmark could not run.
"""


def main():
    ap = argparse.ArgumentParser(prog="tools/bench", description=DOC, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CI mode: nothing vs initwatch watch, under a minute")
    ap.add_argument("--reps", type=int, default=None, help="interleaved repetitions (default 7, quick 3)")
    ap.add_argument("--max-background", type=float, default=10, metavar="PCT",
                    help="repeat a measurement (up to 3 times) while other processes use more than PCT %% of a CPU (default 10)")
    ap.add_argument("--no-priority", action="store_true",
                    help="do not give the bench (and all it starts) the CPU first: by default it runs at nice "
                         "-20 in a cgroup with the largest CPU weight, against other work on a shared machine")
    ap.add_argument("--tracers", default=",".join(TRACERS).replace("_", "-"), metavar="LIST",
                    help="conditions besides nothing attached: iw (initwatch watch), iw-events, bpftrace, "
                         "exitsnoop, execsnoop (default: all; quick: iw only)")
    ap.add_argument("--pairs", type=int, default=FINE_PAIRS, metavar="N",
                    help=f"pairs of serial storms in the paired phase (default {FINE_PAIRS})")
    ap.add_argument("--only", default=",".join(ALL_PHASES), metavar="PHASES",
                    help="comma-separated phases to run: storms (with BPF cost), paired (the serial storm slowdown, "
                         "pairs of storms), latency, scale, argv (argv shapes), memory (memory per process), "
                         "churn (container churn), signals (a signal flood) (default: all)")
    ap.add_argument("--initwatch", metavar="PATH",
                    help="measure this initwatch binary instead of the one built from this tree (before/after "
                         "comparisons: the same bench, another build)")
    ap.add_argument("--initwatch-args", default="", metavar="ARGS",
                    help="more options for every `initwatch watch` started, e.g. '--ring-buffer-size 262144'")
    ap.add_argument("-o", "--output", help="also write the report (markdown tables) to FILE")
    ap.add_argument("--json", help="write the raw measurements to FILE")
    args = ap.parse_args()
    args.reps = args.reps or (3 if args.quick else 7)
    args.initwatch_args = shlex.split(args.initwatch_args)
    if os.geteuid() != 0:
        print("tools/bench: run as root (BPF, namespaces, sysctls)", file=sys.stderr)
        return 2

    def interrupted(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, interrupted)

    t0 = time.monotonic()
    machine = Machine()
    tmp = tempfile.mkdtemp(prefix="initwatch-bench.")
    try:
        machine.enter_cgroup()
        priority = None
        if not args.no_priority:
            os.setpriority(os.PRIO_PROCESS, 0, -20)  # inherited by every process started
            priority = ", ".join(filter(None, ["nice -20", machine.raise_cpu_weight()]))
        bench = Bench(args, machine, tmp)
        bench.results["priority"] = priority or "normal"
        with bench.phase("build and set-up"):
            bench.prepare()
            if args.initwatch:
                bench.initwatch = os.path.abspath(args.initwatch)
                bench.results["initwatch"] = bench.initwatch
        phases = set(args.only.split(","))
        if phases - set(ALL_PHASES):
            raise BenchError(f"unknown phase in --only {args.only}")
        if "storms" in phases:
            with bench.phase("storms and BPF cost"):
                bench.storms()
        if not args.quick and "paired" in phases and "iw" in bench.tracers:
            with bench.phase("serial storm slowdown, paired"):
                bench.fine_slowdown()
        if not args.quick and "latency" in phases:
            with bench.phase("detection latency"):
                bench.latency()
        if not args.quick and "scale" in phases:
            with bench.phase("start-up and scale"):
                bench.scale()
        if "argv" in phases:
            with bench.phase("argv shapes"):
                bench.argv_shapes()
        if "memory" in phases:
            with bench.phase("memory per process"):
                bench.memory()
        if "churn" in phases:
            with bench.phase("container churn"):
                bench.churn()
        if "signals" in phases:
            with bench.phase("signal flood"):
                bench.signals()
        res = bench.results
    except Interrupted as e:
        print(f"tools/bench: interrupted ({e}), cleaned up", file=sys.stderr)
        return 130
    except (BenchError, subprocess.CalledProcessError, OSError) as e:
        print(f"tools/bench: {e}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        machine.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    text = report(res, args.quick)
    sys.stdout.write(text)
    if args.output:
        write(args.output, text)
    if args.json:
        write(args.json, json.dumps(res, indent=1) + "\n")
    lost = [x for t in res["tracers"].values() for x in t["lost"] + t["lost_json"] + [t["lost_discarded"]]]
    lost += [res.get("latency", {}).get("lost", 0), res.get("scale", {}).get("lost", 0), res.get("scale", {}).get("lost_json", 0)]
    lost += [res.get("argv", {}).get("lost", 0), res.get("churn", {}).get("lost", 0), res.get("churn", {}).get("lost_json", 0)]
    lost += [sh[k] for sh in res.get("memory", {}).get("shapes", {}).values() for k in ("lost", "lost_json")]
    if any(lost):
        print("tools/bench: FAIL: initwatch lost events (see the lost column)", file=sys.stderr)
        return 1
    return 0
