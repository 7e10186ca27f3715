"""The benchmark's phases (Bench): storms and BPF cost, the paired serial storms,
detection latency, start-up and scale, argv shapes, memory per process, container churn.
Each fills its part of Bench.results; report.py turns them into text."""

import concurrent.futures
import contextlib
import json
import os
import re
import subprocess
import time

from .base import CLK_TCK, BenchError, log, parse_rfc3339_ns, read, run, write
from .build import build, install
from .churn import Churn, churn_findings
from .machine import cpu_busy_s, machine_description, own_cpu_s
from .stats import median, percentile
from .tracers import (ARGV_ONLY_REASONS, BPFTRACE_SCRIPT, StampedLines, Tracer, bcc_kernel_source,
                      foreign_sched_progs, json_lost)

FULL_WORKLOADS = [  # (key, label, mode, n, spawners)
    ("exec1", "fork+exec+exit, 1 spawner", "exec", 1500, 1),
    ("exec2", "fork+exec+exit, 2 spawners", "exec", 2000, 2),
    ("fork2", "fork+exit (no exec), 2 spawners", "fork", 6000, 2),
    ("thread2", "thread create+exit, 2 spawners", "thread", 40000, 2),
]
QUICK_WORKLOADS = [
    ("exec1", "fork+exec+exit, 1 spawner", "exec", 600, 1),
    ("exec2", "fork+exec+exit, 2 spawners", "exec", 800, 2),
    ("fork2", "fork+exit (no exec), 2 spawners", "fork", 3000, 2),
    ("thread2", "thread create+exit, 2 spawners", "thread", 10000, 2),
]
BPF_STATS_WORKLOADS = [("exec", 400, 1), ("fork", 2000, 2)]
TRACERS = ["iw", "iw_events", "bpftrace", "exitsnoop", "execsnoop"]
MAX_SLOT_TRIES = 3
RETRY_BUDGET_S = 300  # no more repeats after this long in the storms: the full run stays under 10 min
LATENCY_RUNS = 200
FINE_PAIRS, FINE_SPAWNS, FINE_CPU = 120, 300, 0
SCALE_SMALL, SCALE_LARGE, SCALE_NAMESPACES = 10000, 50000, 4
# spawn_storm hold's argv shapes: bytes of the argv area (NUL-separated) each child exec's with.
ARGV_SHAPE_BYTES = {"short": 8, "empty": 4095, "long": 4095}
ARGV_PER_SHAPE, ARGV_RUNS, ARGV_QUICK_RUNS = 1000, 3, 1
ARGV_RSS_TARGET_MIB = 48
MEMORY_COUNTS, MEMORY_QUICK_COUNTS, MEMORY_STEP = (10000, 50000), (5000,), 1000
CHURN_RATE, CHURN_S, CHURN_QUICK_RATE, CHURN_QUICK_S = 20, 60, 10, 5
CHURN_RSS_TARGET_KIB = 2048


ALL_PHASES = ["storms", "paired", "latency", "scale", "argv", "memory", "churn", "signals"]
# The signal flood: ordinary signals (SIGUSR1 to a process with a handler for it), alone, then
# beside an exec storm of SIGNALS_EXECS.
SIGNALS_N, SIGNALS_QUICK_N, SIGNALS_EXECS, SIGNALS_FLOOD_N = 200_000, 50_000, 400, 50_000_000


class Bench:
    def __init__(self, args, machine, tmp):
        self.args, self.m, self.tmp = args, machine, tmp
        self.quick = args.quick
        self.workloads = QUICK_WORKLOADS if self.quick else FULL_WORKLOADS
        self.bpftrace_script, self.bcc_env, self.exitsnoop_unavailable = None, None, None
        self.tracers = set(args.tracers.replace("-", "_").split(","))
        if self.tracers - set(TRACERS):
            raise BenchError(f"unknown tracer in --tracers {args.tracers} (known: {', '.join(TRACERS)})")
        self.results = {"machine": machine_description(), "mode": "quick" if self.quick else "full",
                        "reps": args.reps, "max_background": args.max_background, "workloads": {}, "tracers": {}, "background": [], "phases": {},
                        "foreign_bpf": []}

    @contextlib.contextmanager
    def phase(self, name):
        """Times a phase, and what other processes of the machine used meanwhile."""
        log(f"{name}")
        t0, busy0, ours0 = time.monotonic(), cpu_busy_s(), own_cpu_s()
        yield
        wall = time.monotonic() - t0
        background = (cpu_busy_s() - busy0 - (own_cpu_s() - ours0)) / wall * 100
        self.results["phases"][name] = {"s": round(wall, 1), "background_pct": max(0, round(background))}

    def iw_argv(self, *extra):
        """`initwatch watch --json`: findings and `lost` lines, nothing else, on stdout;
        "probes attached" on stderr tells when it is ready."""
        return [self.initwatch, "watch", *extra, "--json", "--log-level", "info", *self.args.initwatch_args]

    # spawn_storm
    def storm(self, mode, n, spawners, cpu=None):
        """(wall ns, CPU ns of the storm's processes, BPF programs on their tracepoints included);
        with `cpu`, the storm (spawners and all they start) runs on that CPU only."""
        pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        r = run([self.storm_bin, mode, str(n), str(spawners)], capture_output=True, text=True, preexec_fn=pin)
        m = re.search(r"elapsed_ns=(\d+) cpu_ns=(\d+)", r.stdout)
        return int(m.group(1)), int(m.group(2))

    def conditions(self):
        conds = [
            {"key": "nothing", "name": "nothing attached"},
            {"key": "iw", "name": "initwatch watch", "initwatch": True,
             "argv": self.iw_argv(), "events": ["fork", "exec", "exit"],
             "stdout": os.path.join(self.tmp, "iw.jsonl"), "ready": "probes attached"},
        ]
        if not self.quick:
            conds += [
                {"key": "iw_events", "name": "initwatch watch --events --json", "initwatch": True,
                 "argv": self.iw_argv("--events"), "events": ["fork", "exec", "exit"],
                 "ready": "probes attached"},
                {"key": "bpftrace", "name": "bpftrace (same 3 tracepoints, printf each)",
                 "argv": ["bpftrace", self.bpftrace_script], "events": ["fork", "exec", "exit"]},
                {"key": "exitsnoop", "name": "bcc exitsnoop", "argv": ["exitsnoop-bpfcc"], "events": ["exit"],
                 "env": self.bcc_env, "unavailable": self.exitsnoop_unavailable},
                {"key": "execsnoop", "name": "bcc execsnoop", "unavailable": "n/a (needs kprobes)"},
            ]
        return [c for c in conds if c["key"] == "nothing" or c["key"] in self.tracers]

    def prepare(self):
        self.initwatch, self.storm_bin = build(self.tmp)
        others = {"bpftrace": ["bpftrace"], "exitsnoop": ["bpfcc-tools"]}
        phases = self.args.only.split(",")
        storms = "storms" in phases and not self.quick
        install(["bpftool", "util-linux"] + [p for k, pkgs in others.items()
                                             if k in self.tracers and storms for p in pkgs]
                + (["runc", "busybox-static"] if "churn" in phases else []))
        if not storms or not self.tracers & set(others):
            return
        self.m.mount_tracefs()  # bpftrace's tracepoint: probes and bcc's TRACEPOINT_PROBE read it
        self.bpftrace_script = os.path.join(self.tmp, "sched.bt")
        write(self.bpftrace_script, BPFTRACE_SCRIPT)
        self.exitsnoop_unavailable = None
        self.bcc_env = dict(os.environ)
        if "exitsnoop" not in self.tracers:
            return
        try:
            ksrc = bcc_kernel_source()
            if ksrc:
                self.bcc_env["BCC_KERNEL_SOURCE"] = ksrc
                self.results["bcc_kernel_source"] = ksrc
        except (BenchError, subprocess.CalledProcessError, OSError) as e:
            self.exitsnoop_unavailable = f"n/a (no kernel headers: {e})"

    # 1 + 2: storms and BPF cost
    def storms(self):
        """Every condition in turn (A B C A B C ...), the four storms under each."""
        conds = self.conditions()
        for c in conds:
            self.results["tracers"][c["key"]] = {
                "name": c["name"], "unavailable": c.get("unavailable"), "cpu_s": [], "hwm_kib": [],
                "cpu_ticks_s": [], "lost_discarded": 0, "lost": [], "lost_json": [], "bpf_ns": {}, "ready_ms": []}
            for w in self.workloads:
                self.results["workloads"].setdefault(w[0], {"label": w[1], "n": w[3], "by": {}})
                self.results["workloads"][w[0]]["by"][c["key"]] = {"ns_per_spawn": [], "cpu_ns_per_spawn": [], "cpu_ms": []}
        self.retry_until = time.monotonic() + RETRY_BUDGET_S
        log("warm-up storm (not measured)")
        for key, _, mode, n, spawners in self.workloads:
            self.storm(mode, max(1, n // 4), spawners)
        for rep in range(1, self.args.reps + 1):
            for c in conds:
                tr = self.results["tracers"][c["key"]]
                if tr["unavailable"]:
                    continue
                log(f"rep {rep}/{self.args.reps}: {c['name']}")
                try:
                    self.one_slot(c, tr)
                except BenchError as e:
                    if c["key"] in ("nothing", "iw"):
                        raise
                    tr["unavailable"] = f"n/a ({str(e).splitlines()[0][:160]})"
                    log(f"{c['name']} unavailable: {e}")
                time.sleep(0.3)

    def one_slot(self, c, tr):
        """One tracer (or none) attached, the storms run once. Repeated, up to
        MAX_SLOT_TRIES, while other processes of the machine use more CPU than allowed."""
        for attempt in range(1, MAX_SLOT_TRIES + 1):
            tracer = None
            if "argv" in c:
                tracer = Tracer(self.m, c["name"], c["argv"], c["events"], env=c.get("env"),
                                stdout=c.get("stdout"), ready_line=c.get("ready"))
                tracer.start()
            else:
                time.sleep(0.5)
            own = set(tracer.progs.values()) if tracer else set()
            foreign = set(foreign_sched_progs(own))
            busy0, ours0, t0 = cpu_busy_s(), own_cpu_s(), time.monotonic()
            tracer0 = tracer.cpu_ns() if tracer else 0
            ticks0 = tracer.cpu_ticks() if tracer else 0
            times, storm_cpu, cpus = {}, {}, {}
            for key, _, mode, n, spawners in self.workloads:
                cpu0 = tracer.cpu_ns() if tracer else 0
                wall, cpu = self.storm(mode, n, spawners)
                times[key], storm_cpu[key] = wall / n, cpu / n
                if tracer:
                    cpus[key] = (tracer.cpu_ns() - cpu0) / 1e6
            tracer_s = (tracer.cpu_ns() - tracer0) / 1e9 if tracer else 0.0
            background = max(0.0, (cpu_busy_s() - busy0 - (own_cpu_s() - ours0) - tracer_s) / (time.monotonic() - t0))
            foreign |= set(foreign_sched_progs(own))
            noisy = []
            if background > self.args.max_background / 100:
                noisy.append(f"other processes used {background * 100:.0f} % of a CPU")
            if foreign:
                noisy.append(f"BPF programs of other tools on the process tracepoints ({', '.join(sorted(foreign))})")
            if noisy and not self.quick and attempt < MAX_SLOT_TRIES and time.monotonic() < self.retry_until:
                log(f"  {'; '.join(noisy)}: again")
                if tracer:
                    if c.get("initwatch"):  # reported, not hidden, although not measured
                        drops = tracer.drops() or {}
                        tr["lost_discarded"] += drops.get(0, 0) + drops.get(1, 0)
                    tracer.stop()
                    if c.get("stdout") and c.get("initwatch"):
                        tr["lost_discarded"] += sum(json_lost(c["stdout"]).values())
                time.sleep(2)
                continue
            if noisy:
                log(f"  {'; '.join(noisy)}: kept")
            break
        self.results["foreign_bpf"] = sorted(set(self.results["foreign_bpf"]) | foreign)
        self.results["background"].append(background * 100)
        for key in times:
            by = self.results["workloads"][key]["by"][c["key"]]
            by["ns_per_spawn"].append(times[key])
            by["cpu_ns_per_spawn"].append(storm_cpu[key])
            if tracer:
                by["cpu_ms"].append(cpus[key])
        if not tracer:
            return
        tr["ready_ms"].append(tracer.ready_ms)
        tr["cpu_s"].append(tracer_s)
        tr["cpu_ticks_s"].append((tracer.cpu_ticks() - ticks0) / CLK_TCK)
        if not self.quick:
            self.bpf_cost(tracer, tr)
        if c.get("initwatch"):
            drops = tracer.drops() or {}
            tr["lost"].append(drops.get(0, 0) + drops.get(1, 0))  # ringbuf full, exit map full
        tr["hwm_kib"].append(tracer.status_kib("VmHWM"))
        status = tracer.stop()
        if c.get("initwatch"):
            if status != 0:
                raise BenchError(f"{c['name']} exited with status {status}: {tracer.stderr_tail()}")
            if c.get("stdout"):
                tr["lost_json"].append(sum(json_lost(c["stdout"]).values()))

    def bpf_cost(self, tracer, tr):
        self.m.set_sysctl("kernel.bpf_stats_enabled", 1)
        try:
            before = tracer.prog_stats()
            for mode, n, spawners in BPF_STATS_WORKLOADS:
                self.storm(mode, n, spawners)
            after = tracer.prog_stats()
            # The same exec storm in a pid namespace of its own, as in a container: the exec
            # program reads where stdout and stderr point there (and only there).
            run(["unshare", "--pid", "--fork", "--kill-child", self.storm_bin, "exec", str(BPF_STATS_WORKLOADS[0][1]),
                 "1"], capture_output=True)
            in_pidns = tracer.prog_stats()
        finally:
            write("/proc/sys/kernel/bpf_stats_enabled", self.m.sysctls["kernel.bpf_stats_enabled"])
        for ev, (t1, c1) in after.items():
            t0, c0 = before.get(ev, (0, 0))
            if c1 > c0:
                tr["bpf_ns"].setdefault(ev, []).append((t1 - t0) / (c1 - c0))
        t0, c0 = after.get("exec", (0, 0))
        t1, c1 = in_pidns.get("exec", (0, 0))
        if c1 > c0:
            tr["bpf_ns"].setdefault("exec_pidns", []).append((t1 - t0) / (c1 - c0))

    # 8: a signal flood
    def signals(self):
        """Ordinary signals cost `initwatch watch` its signal_generate program's filter (a fatal
        signal to a process a finding would tell of is all it records): a flood of SIGUSR1 to a
        process that handles it, alone and beside an exec storm, with nothing attached and under
        `initwatch watch`, interleaved; and the program's BPF ns per run (bpf_stats)."""
        n = SIGNALS_QUICK_N if self.quick else SIGNALS_N
        res = self.results["signals"] = {"n": n, "execs": SIGNALS_EXECS, "bpf_ns": [], "by": {
            key: {"ns_per_signal": [], "ns_per_exec_beside": []} for key in ("nothing", "iw")}}
        log(f"signal flood: {n} signals alone, then an exec storm of {SIGNALS_EXECS} beside a flood")
        for rep in range(1, self.args.reps + 1):
            for key in ("nothing", "iw"):
                tracer = None
                if key == "iw":
                    tracer = Tracer(self.m, "initwatch watch", self.iw_argv(), ["fork", "exec", "exit"],
                                    ready_line="probes attached")
                    tracer.start()
                else:
                    time.sleep(0.5)
                by = res["by"][key]
                try:
                    by["ns_per_signal"].append(self.storm("signal", n, 1)[0] / n)
                    if tracer:  # apart: bpf_stats costs each run of every program some ns
                        self.m.set_sysctl("kernel.bpf_stats_enabled", 1)
                        before = tracer.named_prog_stats("handle_signal")
                        self.storm("signal", n // 4, 1)
                        after = tracer.named_prog_stats("handle_signal")
                        write("/proc/sys/kernel/bpf_stats_enabled", self.m.sysctls["kernel.bpf_stats_enabled"])
                        if after and before and after[1] > before[1]:
                            res["bpf_ns"].append((after[0] - before[0]) / (after[1] - before[1]))
                    flood = self.m.popen([self.storm_bin, "signal", str(SIGNALS_FLOOD_N), "1"],
                                         stdout=subprocess.DEVNULL)
                    time.sleep(0.2)
                    by["ns_per_exec_beside"].append(self.storm("exec", SIGNALS_EXECS, 1)[0] / SIGNALS_EXECS)
                    flood.kill()
                    flood.wait()
                finally:
                    if tracer:
                        if "kernel.bpf_stats_enabled" in self.m.sysctls:
                            write("/proc/sys/kernel/bpf_stats_enabled", self.m.sysctls["kernel.bpf_stats_enabled"])
                        tracer.stop()
            log(f"rep {rep}/{self.args.reps} done")

    # 1b: the serial storm's slowdown, finely interleaved
    def fine_slowdown(self):
        """This VM's spawn cost drifts by ~10 % within seconds, tracer or not: pairs of
        short serial storms, one with nothing attached and one under `initwatch watch`
        (the order alternating), compared pair by pair, resolve a few percent. The storm is
        pinned to one CPU: where the scheduler puts each child (the spawner's CPU or the
        other) is most of the remaining noise (the ratio of two storms run back to back
        with nothing attached: standard deviation 6-10 % unpinned, 2-5 % pinned, 300
        spawns each). initwatch is not pinned: it runs wherever the scheduler puts it."""
        pairs, n, cpu = self.args.pairs, FINE_SPAWNS, FINE_CPU
        log(f"serial storm slowdown: {pairs} alternating pairs of {n} spawns on CPU {cpu}")
        ratios = []
        for k in range(pairs):
            iw = Tracer(self.m, "initwatch watch", self.iw_argv(), ["fork", "exec", "exit"],
                        ready_line="probes attached")
            if k % 2:
                iw.start(settle=0.2)
                with_iw = self.storm("exec", n, 1, cpu)[0]
                iw.stop()
                time.sleep(0.1)
                without = self.storm("exec", n, 1, cpu)[0]
            else:
                without = self.storm("exec", n, 1, cpu)[0]
                iw.start(settle=0.2)
                with_iw = self.storm("exec", n, 1, cpu)[0]
                iw.stop()
            ratios.append(with_iw / without)
        self.results["fine"] = {"pairs": pairs, "spawns": n, "cpu": cpu, "ratios": ratios}

    # 3: detection latency
    def latency(self):
        log(f"detection latency: {LATENCY_RUNS} namespace inits exiting with a child left")
        stamped = os.path.join(self.tmp, "latency.stamped")
        # initwatch -> pipe -> spawn_storm stamp (CLOCK_REALTIME as each read returns) -> file
        iw = Tracer(self.m, "initwatch watch --json", self.iw_argv(), ["fork", "exec", "exit"],
                    stdout=subprocess.PIPE, ready_line="probes attached")
        iw.start()
        with open(stamped, "w") as out:
            stamper = self.m.popen([self.storm_bin, "stamp"], stdin=iw.proc.stdout, stdout=out)
        iw.proc.stdout.close()
        for i in range(LATENCY_RUNS):
            run(["unshare", "--pid", "--fork", "sh", "-c", "sleep 30 & exit 0", f"iwbench-{i}"])
        markers = {f"iwbench-{i}" for i in range(LATENCY_RUNS)}
        lat, deadline = {}, time.monotonic() + 10
        while time.monotonic() < deadline:
            lat = {}
            for line in read(stamped, "").splitlines():
                ts, _, text = line.partition(" ")
                try:
                    j = json.loads(text)
                except ValueError:
                    continue
                if j.get("type") != "init_exit":
                    continue
                argv = j.get("init", {}).get("argv", [])
                if argv and argv[-1] in markers:
                    lat[argv[-1]] = (int(ts) - parse_rfc3339_ns(j["time"])) / 1e6
            if len(lat) == LATENCY_RUNS:
                break
            time.sleep(0.2)
        drops = iw.drops() or {}
        iw.stop()
        stamper.wait(timeout=10)
        ms = list(lat.values())
        self.results["latency"] = {"runs": LATENCY_RUNS, "found": len(ms), "p50_ms": percentile(ms, 50),
                                   "p99_ms": percentile(ms, 99), "max_ms": max(ms) if ms else None,
                                   "lost": drops.get(0, 0) + drops.get(1, 0)}

    # 4: start-up and scale
    def holders(self, total, namespaces, shape=None):
        """`total` sleeping processes in `namespaces` new pid namespaces (children of a
        spawn_storm hold, each the init of its namespace); `shape`: they exec with that argv
        (ARGV_SHAPE_BYTES), else they are forks sharing the holder's."""
        per = [total // namespaces + (1 if i < total % namespaces else 0) for i in range(namespaces)]
        spec = (lambda n: f"{n}:{shape}") if shape else str
        procs = [self.m.popen(["unshare", "--pid", "--fork", "--kill-child", self.storm_bin, "hold", spec(n)],
                              stdout=subprocess.PIPE, stdin=subprocess.DEVNULL) for n in per]
        for p in procs:
            line = p.stdout.readline().decode()
            if not line.startswith("ready"):
                raise BenchError(f"a process holder failed (status {p.poll()})")
        return procs

    def kill_holders(self, procs):
        inits = []
        for p in procs:
            inits += read(f"/proc/{p.pid}/task/{p.pid}/children", "").split()
            p.kill()  # --kill-child: the namespace's init gets SIGKILL, the kernel kills the rest
            p.wait()
        deadline = time.monotonic() + 120
        while any(os.path.exists(f"/proc/{pid}") for pid in inits) and time.monotonic() < deadline:
            time.sleep(0.1)

    def attach_once(self):
        iw = Tracer(self.m, "initwatch watch", self.iw_argv(),
                    ["fork", "exec", "exit"], ready_line="probes attached")
        iw.start()
        attached = (iw.line_time("probes attached") - iw.start_ns) / 1e6
        snap = iw.line_time("snapshot:")
        snapshot = (snap - iw.start_ns) / 1e6 if snap else None
        rss = iw.status_kib("VmRSS")
        iw.stop()
        return attached, snapshot, rss

    def wait_idle(self, tracer, timeout=10):
        """Until the tracer used under 5 % of a CPU for 100 ms."""
        deadline = time.monotonic() + timeout
        last = tracer.cpu_ns()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = tracer.cpu_ns()
            if now - last < 5_000_000:
                return
            last = now

    def stable_rss(self, tracer, timeout=30):
        """VmRSS once initwatch has drained the ring and stopped growing."""
        last, deadline = None, time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(0.5)
            rss = tracer.status_kib("VmRSS")
            if rss == last:
                return rss
            last = rss
        return last

    def raise_pid_max(self, live):
        need = live + 20000
        if int(read("/proc/sys/kernel/pid_max")) < need:
            self.m.set_sysctl("kernel.pid_max", 131072 if need <= 131072 else need)

    def scale(self):
        self.raise_pid_max(SCALE_LARGE)
        sc = self.results["scale"] = {}
        log("start-up with no extra processes")
        base = [self.attach_once() for _ in range(3)]
        log(f"start-up with {SCALE_SMALL} live processes in {SCALE_NAMESPACES} pid namespaces")
        procs = self.holders(SCALE_SMALL, SCALE_NAMESPACES)
        loaded = [self.attach_once() for _ in range(3)]
        self.kill_holders(procs)
        sc["attach_ms_idle"] = median([a for a, _, _ in base])
        sc["snapshot_ms_idle"] = median([s for _, s, _ in base if s is not None])
        sc["attach_ms_10k"] = median([a for a, _, _ in loaded])
        sc["snapshot_ms_10k"] = median([s for _, s, _ in loaded if s is not None])
        sc["rss_kib_10k_snapshot"] = median([r for _, _, r in loaded])

        log(f"RSS with {SCALE_SMALL} then {SCALE_LARGE} processes started after initwatch")
        out = os.path.join(self.tmp, "scale.jsonl")
        iw = Tracer(self.m, "initwatch watch", self.iw_argv(),
                    ["fork", "exec", "exit"], stdout=out, ready_line="probes attached")
        iw.start()
        sc["rss_kib_idle"] = self.stable_rss(iw)
        procs = self.holders(SCALE_SMALL, SCALE_NAMESPACES)
        sc["rss_kib_10k"] = self.stable_rss(iw)
        procs += self.holders(SCALE_LARGE - SCALE_SMALL, SCALE_NAMESPACES)
        sc["rss_kib_50k"] = self.stable_rss(iw)
        sc["hwm_kib_50k"] = iw.status_kib("VmHWM")
        drops = iw.drops() or {}
        sc["lost"] = drops.get(0, 0) + drops.get(1, 0)
        iw.stop()
        sc["lost_json"] = sum(json_lost(out).values())
        self.kill_holders(procs)

    # 5: argv shapes
    def argv_shapes(self):
        """One pid namespace whose init leaves ARGV_PER_SHAPE live processes of 4,095 bytes
        of empty arguments and as many with one 4 KiB argument, then exits: initwatch's
        peak RSS, how long the finding takes, how big it is. A fresh initwatch each run."""
        runs = ARGV_QUICK_RUNS if self.quick else ARGV_RUNS
        self.raise_pid_max(2 * ARGV_PER_SHAPE)
        res = self.results["argv"] = {"per_shape": ARGV_PER_SHAPE, "shapes": ["empty", "long"],
                                      "argv_bytes": ARGV_SHAPE_BYTES["empty"], "runs": []}
        for k in range(runs):
            log(f"argv shapes, run {k + 1}/{runs}: {ARGV_PER_SHAPE} x {ARGV_SHAPE_BYTES['empty']} bytes of empty "
                f"arguments and {ARGV_PER_SHAPE} x one long argument, then init exits")
            res["runs"].append(self.argv_once(ARGV_PER_SHAPE))
        for key in ("hwm_kib", "rss_kib_tracked", "cpu_us_per_exec", "finding_bytes", "latency_ms", "first_byte_ms",
                    "bench_clock_ms"):
            xs = [r[key] for r in res["runs"] if r.get(key) is not None]
            res[key] = median(xs)
        res["lost"] = sum(max(r["lost"], r["lost_json"]) for r in res["runs"])  # two counts of the same events

    def reset_hwm(self, tracer):
        """Peak RSS from now on: `5 > clear_refs` resets VmHWM to VmRSS (since 4.0); tells
        whether it did on this kernel (else the peak includes initwatch's start-up)."""
        try:
            write(f"/proc/{tracer.proc.pid}/clear_refs", "5")
        except OSError:
            return False
        hwm, rss = tracer.status_kib("VmHWM"), tracer.status_kib("VmRSS")
        return hwm is not None and rss is not None and hwm - rss < 1024

    def argv_once(self, per):
        iw = Tracer(self.m, "initwatch watch --json", self.iw_argv(), ["fork", "exec", "exit"],
                    stdout=subprocess.PIPE, ready_line="probes attached")
        iw.start()
        lines = StampedLines(iw.proc.stdout)
        run_res = {"hwm_reset": self.reset_hwm(iw), "hwm_kib_start": iw.status_kib("VmHWM")}
        cpu0 = iw.cpu_ns()
        t0 = time.monotonic()
        holder = self.m.popen(["unshare", "--pid", "--fork", self.storm_bin, "orphan", f"{per}:empty", f"{per}:long"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if not holder.stdout.readline().startswith(b"ready"):
            raise BenchError(f"the argv holder failed (status {holder.poll()})")
        run_res["spawn_s"] = round(time.monotonic() - t0, 2)
        init_pid = int(read(f"/proc/{holder.pid}/task/{holder.pid}/children").split()[0])
        run_res["rss_kib_tracked"] = self.stable_rss(iw)
        # initwatch's CPU for the 2 x per forks and execs (and their argv's --redact, if
        # given): per exec, what redaction costs shows here.
        run_res["cpu_us_per_exec"] = (iw.cpu_ns() - cpu0) / 1e3 / (2 * per)
        exit_ns = time.time_ns()
        holder.stdin.write(b"x")  # init exits 0, its 2 x per processes still alive
        holder.stdin.close()
        holder.wait(timeout=60)
        found, seen, deadline = None, 0, time.monotonic() + 120
        while found is None and time.monotonic() < deadline and iw.proc.poll() is None:
            got = lines.get()
            for first, last, raw in got[seen:]:
                if raw.startswith(b'{"type":"init_exit"'):
                    j = json.loads(raw)
                    if j.get("init", {}).get("pid") == init_pid:
                        found = (first, last, raw, j)
            seen = len(got)
            time.sleep(0.1)
        time.sleep(0.5)
        run_res["hwm_kib"] = iw.status_kib("VmHWM") if iw.proc.poll() is None else None
        drops = iw.drops() or {}
        run_res["lost"] = drops.get(0, 0) + drops.get(1, 0)
        status = iw.stop()
        lines.thread.join(timeout=30)
        run_res["lost_json"] = sum(n for _, _, raw in lines.get() if raw.startswith(b'{"type":"lost"')
                                   for reason, n in json.loads(raw).get("counts", {}).items()
                                   if reason not in ARGV_ONLY_REASONS)
        if status != 0:
            raise BenchError(f"initwatch exited with status {status} in the argv phase: {iw.stderr_tail()}")
        if found:
            first, last, raw, j = found
            kernel_ns = parse_rfc3339_ns(j["time"])
            run_res.update(found=True, finding_bytes=len(raw) + 1, live_count=j.get("live_count"),
                           live_listed=len(j.get("live", [])), latency_ms=(last - kernel_ns) / 1e6,
                           first_byte_ms=(first - kernel_ns) / 1e6, bench_clock_ms=(last - exit_ns) / 1e6)
        else:
            run_res.update(found=False, finding_bytes=None, live_count=None, live_listed=None,
                           latency_ms=None, first_byte_ms=None, bench_clock_ms=None)
        return run_res

    # 6: memory per process
    def memory(self):
        """initwatch's RSS with N processes exec'd with a short argv, then with a 4 KiB
        one (a fresh initwatch each): bytes per process = (RSS_N - RSS_idle) / N."""
        counts = MEMORY_QUICK_COUNTS if self.quick else MEMORY_COUNTS
        self.raise_pid_max(max(counts))
        res = self.results["memory"] = {"counts": list(counts), "shapes": {}}
        for shape in ("short", "long"):
            out = os.path.join(self.tmp, f"memory-{shape}.jsonl")
            iw = Tracer(self.m, "initwatch watch", self.iw_argv(), ["fork", "exec", "exit"],
                        stdout=out, ready_line="probes attached")
            iw.start()
            sh = res["shapes"][shape] = {"argv_bytes": ARGV_SHAPE_BYTES[shape], "rss_kib_idle": self.stable_rss(iw),
                                         "by_count": {}}
            procs, have = [], 0
            for n in counts:
                log(f"memory: {n} processes exec'd with a {ARGV_SHAPE_BYTES[shape]}-byte argv")
                t0 = time.monotonic()
                while have < n:
                    # Steps, each once initwatch is idle again: a storm of 4 KiB execs faster
                    # than initwatch decodes them fills its ring (and loses what is measured).
                    step = min(MEMORY_STEP, n - have)
                    procs += self.holders(step, 1, shape)
                    have += step
                    self.wait_idle(iw)
                rss = self.stable_rss(iw)
                sh["by_count"][str(n)] = {"rss_kib": rss, "spawn_s": round(time.monotonic() - t0, 1),
                                          "bytes_per_process": (rss - sh["rss_kib_idle"]) * 1024 / n}
            drops = iw.drops() or {}
            sh["lost"] = drops.get(0, 0) + drops.get(1, 0)
            iw.stop()
            sh["lost_reasons"] = json_lost(out)
            sh["lost_json"] = sum(sh["lost_reasons"].values())
            sh["argv_dropped"] = json_lost(out, argv_only=True).get("argv_dropped", 0)
            self.kill_holders(procs)

    # 7: container churn
    def churn(self):
        """Real runc containers, CHURN_RATE a second for CHURN_S seconds, half of them the
        story's backgrounded server (a finding each, exactly once), half healthy (none)."""
        rate, secs = (CHURN_QUICK_RATE, CHURN_QUICK_S) if self.quick else (CHURN_RATE, CHURN_S)
        churn = Churn(self.m, os.path.join(self.tmp, "churn"))
        out = os.path.join(self.tmp, "churn.jsonl")
        iw = Tracer(self.m, "initwatch watch", self.iw_argv(), ["fork", "exec", "exit"],
                    stdout=out, ready_line="probes attached")
        iw.start()
        res = self.results["churn"] = {"rate": rate, "seconds": secs, "rss_kib_before": self.stable_rss(iw)}
        log(f"container churn: {rate} runc containers a second for {secs} s")
        cpu0, t0 = iw.cpu_ns(), time.monotonic()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=rate * 4)
        futures = []
        try:
            for i in range(rate * secs):
                due = t0 + i / rate
                time.sleep(max(0.0, due - time.monotonic()))
                futures.append(pool.submit(churn.run, "failing" if i % 2 == 0 else "healthy", due))
            done = [f.result(timeout=120) for f in futures]
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        ended = time.monotonic()
        failing = {c["id"] for c in done if c["kind"] == "failing"}
        by_cgroup_id = {c["cgroup_id"]: c["id"] for c in done if c["cgroup_id"]}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if failing <= {cid for cid, _ in churn_findings(out, by_cgroup_id)}:
                break
            time.sleep(0.2)
        wall = time.monotonic() - t0
        res["cpu_pct"] = (iw.cpu_ns() - cpu0) / 1e9 / wall * 100
        time.sleep(2)
        res["rss_kib_after"] = self.stable_rss(iw)
        drops = iw.drops() or {}
        res["lost"] = drops.get(0, 0) + drops.get(1, 0)
        iw.stop()
        churn.close()
        res["lost_json"] = sum(json_lost(out).values())
        findings = churn_findings(out, by_cgroup_id)
        found, named = {}, {}
        for cid, how in findings:
            if cid:
                found[cid] = found.get(cid, 0) + 1
                named[cid] = named.get(cid, 0) + (how is True)
        unidentified = [how for cid, how in findings if cid is None]
        ids = {c["id"]: c["kind"] for c in done}
        starts = sorted(c["started"] for c in done)
        res.update(
            started=len(done), phase_s=round(wall, 1), containers_s=round(ended - t0, 1),
            achieved_rate=(len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else None,
            late_starts=sum(c["lag_ms"] > 100 for c in done), max_lag_ms=max(c["lag_ms"] for c in done),
            runc_failed=sum(c["status"] != 0 for c in done),
            runc_errors=sorted({c["error"] for c in done if c["error"]})[:5],
            runc_run_ms=median([c["run_ms"] for c in done]),
            failing=len(failing), healthy=len(ids) - len(failing),
            failing_once=sum(found.get(i) == 1 for i in failing),
            failing_named=sum(named.get(i) == 1 for i in failing),
            no_cgroup_id=sum(1 for c in done if not c["cgroup_id"]),
            failing_missing=sum(i not in found for i in failing),
            failing_repeated=sum(found.get(i, 0) > 1 for i in failing),
            healthy_reported=sum(1 for i, kind in ids.items() if kind == "healthy" and i in found),
            missing_detail=[{k: c[k] for k in ("id", "status", "error", "lag_ms", "run_ms")}
                             for c in done if c["kind"] == "failing" and c["id"] not in found][:5],
            other_findings=sum(n for i, n in found.items() if i not in ids) + len(unidentified),
            unidentified=unidentified[:5])
