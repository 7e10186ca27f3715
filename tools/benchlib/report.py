"""What the bench prints (and writes with -o): markdown tables of the medians, ratios and
spread, and the targets with whether each holds."""

from .phases import (ARGV_RSS_TARGET_MIB, CHURN_RSS_TARGET_KIB, MAX_SLOT_TRIES, SCALE_LARGE,
                     SCALE_SMALL)
from .stats import median, median_ci, ratio_ci

def fmt(x, spec=".1f", none="–"):
    return none if x is None else format(x, spec)


def storm_tables(res, add):
    tracers = res["tracers"]
    add("")
    base = {k: median(w["by"]["nothing"]["ns_per_spawn"]) for k, w in res["workloads"].items()}
    add("| workload | tracer | µs per spawn | min–max | ratio | paired ratio | storm CPU µs per spawn | "
        "CPU ratio | tracer CPU ms |")
    add("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for key, w in res["workloads"].items():
        label = f"{w['label']} (N={w['n']})"
        for tk, t in tracers.items():
            if t["unavailable"]:
                add(f"| {label} | {t['name']} | {t['unavailable']} | | | | | | |")
                continue
            xs = w["by"][tk]["ns_per_spawn"]
            if not xs:
                continue
            med = median(xs)
            ratio = med / base[key] if base[key] else None
            # Each repetition against the nothing-attached run of the same repetition.
            paired = median([x / b for x, b in zip(xs, w["by"]["nothing"]["ns_per_spawn"]) if b])
            storm_cpu = median(w["by"][tk]["cpu_ns_per_spawn"])
            base_cpu = median(w["by"]["nothing"]["cpu_ns_per_spawn"])
            cpu = median(w["by"][tk]["cpu_ms"])
            add(f"| {label} | {t['name']} | {med / 1000:.1f} | {min(xs) / 1000:.1f}–{max(xs) / 1000:.1f} | "
                f"{fmt(ratio, '.3f')} | {fmt(paired, '.3f')} | {storm_cpu / 1000:.1f} | "
                f"{fmt(storm_cpu / base_cpu if base_cpu else None, '.3f')} | {fmt(cpu) if tk != 'nothing' else '–'} |")
    add("")
    iw_cpu = median(tracers["iw"]["cpu_s"]) if "iw" in tracers else None
    add("| tracer | CPU ms over the 4 storms (utime+stime) | initwatch CPU / this | peak RSS MiB (VmHWM) | "
        "lost events (kernel counters / JSON lines) | BPF ns per run: fork | exec | exec in a pid namespace | exit | "
        "ready after ms |")
    add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for tk, t in tracers.items():
        if tk == "nothing":
            continue
        if t["unavailable"]:
            add(f"| {t['name']} | {t['unavailable']} | | | | | | | | |")
            continue
        cpu = median(t["cpu_s"])
        share = fmt(iw_cpu / cpu, ".2f") if cpu and iw_cpu is not None and tk != "iw" else "–"
        hwm = median([h for h in t["hwm_kib"] if h])
        if t["lost"]:
            lost = f"{max(t['lost'])}" + (f" / {max(t['lost_json'])}" if t["lost_json"] else "")
        else:
            lost = "not reported"
        bpf = [fmt(median(t["bpf_ns"].get(ev, [])), ".0f") for ev in ("fork", "exec", "exec_pidns", "exit")]
        add(f"| {t['name']} | {fmt(cpu * 1000 if cpu is not None else None)} | {share} | {fmt(hwm / 1024 if hwm else None)} | {lost} | "
            f"{' | '.join(bpf)} | {fmt(median(t['ready_ms']), '.0f')} |")


def report(res, quick):
    lines = []
    add = lines.append
    mach = res["machine"]
    add(f"Machine: {mach['nproc']} CPUs ({mach['cpu']}), {mach['memory_gib']} GiB, kernel {mach['kernel']}, "
        f"clocksource {mach['clocksource']}, Debian {mach['debian']}")
    add(f"Mode: {res['mode']}, {res['reps']} interleaved repetitions, medians, CPU priority: {res['priority']}; "
        f"ratio = median under the tracer / median with nothing attached, same run.")
    bg = res["background"]
    if bg:
        add(f"CPU used by other processes of the machine while the storms ran: median {median(bg):.1f} %, "
            f"max {max(bg):.1f} % of one CPU (slots above {res['max_background']:g} % are run again, up to "
            f"{MAX_SLOT_TRIES} times{', not in quick mode' if quick else ''}).")
    discarded = sum(t["lost_discarded"] for t in res["tracers"].values())
    if discarded:
        add(f"WARNING: initwatch lost {discarded} events in runs discarded as noisy.")
    if res["foreign_bpf"]:
        add(f"WARNING: BPF programs of other tools were attached to the process tracepoints "
            f"({', '.join(res['foreign_bpf'])}): every storm, 'nothing attached' included, paid for them.")
    if res["tracers"]:
        storm_tables(res, add)
    if "fine" in res:
        f = res["fine"]
        r, ci = median(f["ratios"]), median_ci(f["ratios"])
        add("")
        add(f"Serial storm, {f['pairs']} pairs of {f['spawns']} spawns on CPU {f.get('cpu')} "
            f"(nothing attached / `initwatch watch`, alternating order, ratio per pair): median ratio {r:.3f}"
            + (f", 95 % interval {ci[0]:.3f} … {ci[1]:.3f}" if ci else "") + ".")
    if "latency" in res:
        lt = res["latency"]
        add("")
        add(f"Detection latency, kernel timestamp of init's exit to the finding read from initwatch's pipe: "
            f"p50 {fmt(lt['p50_ms'], '.2f')} ms, p99 {fmt(lt['p99_ms'], '.2f')} ms, max {fmt(lt['max_ms'], '.2f')} ms "
            f"({lt['found']}/{lt['runs']} findings, {lt['lost']} lost events).")
    if "scale" in res:
        sc = res["scale"]
        add("")
        add("| start-up and scale | value |")
        add("|---|---:|")
        add(f"| exec → \"probes attached\", idle host | {fmt(sc['attach_ms_idle'], '.0f')} ms |")
        add(f"| exec → \"probes attached\", {SCALE_SMALL} live processes | {fmt(sc['attach_ms_10k'], '.0f')} ms |")
        add(f"| exec → snapshot done, idle host | {fmt(sc['snapshot_ms_idle'], '.0f')} ms |")
        add(f"| exec → snapshot done, {SCALE_SMALL} live processes | {fmt(sc['snapshot_ms_10k'], '.0f')} ms |")
        add(f"| RSS after the snapshot of {SCALE_SMALL} processes | {fmt(sc['rss_kib_10k_snapshot'] / 1024)} MiB |")
        add(f"| RSS, idle host | {fmt(sc['rss_kib_idle'] / 1024)} MiB |")
        add(f"| RSS, {SCALE_SMALL} processes started after initwatch | {fmt(sc['rss_kib_10k'] / 1024)} MiB |")
        add(f"| RSS, {SCALE_LARGE} processes started after initwatch | {fmt(sc['rss_kib_50k'] / 1024)} MiB |")
        add(f"| lost events during the scale run (kernel / JSON) | {sc['lost']} / {sc['lost_json']} |")
    if "argv" in res:
        ar = res["argv"]
        add("")
        add(f"Argv shapes: one pid namespace whose init exits 0 leaving {ar['per_shape']} processes exec'd with "
            f"{ar['argv_bytes']} bytes of empty arguments and {ar['per_shape']} with one argument of "
            f"{ar['argv_bytes'] - 9} bytes (argv area {ar['argv_bytes']} bytes each); a fresh `initwatch watch --json` "
            f"per run, its peak RSS reset when ready ({'5 > clear_refs' if all(r['hwm_reset'] for r in ar['runs']) else 'not resettable: start-up included'}); "
            f"medians of {len(ar['runs'])} run(s).")
        add("")
        add("| argv shapes | median | runs |")
        add("|---|---:|---:|")
        rows = [("peak RSS (VmHWM) MiB", "hwm_kib", lambda v: fmt(v / 1024)),
                ("RSS with the processes tracked, before init's exit, MiB", "rss_kib_tracked", lambda v: fmt(v / 1024)),
                ("initwatch CPU per fork and exec while they start (with --redact: its cost), µs", "cpu_us_per_exec",
                 lambda v: fmt(v, ".1f")),
                ("finding size (JSON line) MiB", "finding_bytes", lambda v: fmt(v / 1048576, ".2f")),
                ("init's exit (kernel time) → the finding's last byte read, ms", "latency_ms", lambda v: fmt(v, ".0f")),
                ("init's exit (kernel time) → the finding's first byte read, ms", "first_byte_ms", lambda v: fmt(v, ".0f")),
                ("the bench tells init to exit → the finding's last byte, ms", "bench_clock_ms", lambda v: fmt(v, ".0f"))]
        for label, key, f in rows:
            runs = ", ".join("–" if r.get(key) is None else f(r[key]) for r in ar["runs"])
            add(f"| {label} | {'–' if ar.get(key) is None else f(ar[key])} | {runs} |")
        listed = ", ".join(f"{r['live_listed']}/{r['live_count']}" if r["found"] else "no finding" for r in ar["runs"])
        add(f"| processes listed / live_count in the finding | | {listed} |")
        add(f"| lost events (kernel / JSON, per run) | {ar['lost']} | "
            + ", ".join(f"{r['lost']} / {r['lost_json']}" for r in ar["runs"]) + " |")
    if "memory" in res:
        mem = res["memory"]
        add("")
        add("| memory per process (a fresh initwatch per argv shape) | argv bytes | RSS idle MiB | "
            + " | ".join(f"RSS with {n} MiB | bytes per process, {n}" for n in mem["counts"]) + " | lost (kernel / JSON) | argv cut to a prefix (--max-memory) |")
        add("|---|---:|---:|" + "---:|---:|" * len(mem["counts"]) + "---:|---:|")
        for shape, sh in mem["shapes"].items():
            cells = " | ".join(f"{fmt(sh['by_count'][str(n)]['rss_kib'] / 1024)} | {sh['by_count'][str(n)]['bytes_per_process']:.0f}"
                               for n in mem["counts"])
            add(f"| {shape} argv, each process exec'd | {sh['argv_bytes']} | {fmt(sh['rss_kib_idle'] / 1024)} | {cells} | "
                f"{sh['lost']} / {sh['lost_json']} | {sh.get('argv_dropped', 0)} |")
    if "signals" in res:
        sg = res["signals"]
        base = {k: median(sg["by"]["nothing"][k]) for k in ("ns_per_signal", "ns_per_exec_beside")}
        add("")
        add(f"| signal flood ({sg['n']} SIGUSR1 to a process with a handler; then an exec storm of {sg['execs']} "
            "beside a flood) | ns per signal | ratio | ns per exec beside the flood | ratio |")
        add("|---|---:|---:|---:|---:|")
        for key, name in (("nothing", "nothing attached"), ("iw", "initwatch watch")):
            by = sg["by"][key]
            cells = []
            for k in ("ns_per_signal", "ns_per_exec_beside"):
                med = median(by[k])
                cells += [fmt(med, ".0f"), fmt(med / base[k] if med and base[k] else None, ".3f")]
            add(f"| {name} | " + " | ".join(cells) + " |")
        add(f"| initwatch's signal_generate program, BPF ns per run (median of {len(sg['bpf_ns'])}) | "
            f"{fmt(median(sg['bpf_ns']), '.0f')} | | | |")
    if "churn" in res:
        ch = res["churn"]
        add("")
        add(f"Container churn: {ch['started']} runc containers, {ch['rate']} a second for {ch['seconds']} s "
            f"(half the story's backgrounded server, half `exec sleep 1`), each in /kubepods/burstable/pod<uid>/<id>.")
        add("")
        add("| container churn | value |")
        add("|---|---:|")
        add(f"| starts achieved per second (late by > 100 ms / max lag) | {fmt(ch['achieved_rate'])} "
            f"({ch['late_starts']} / {ch['max_lag_ms']:.0f} ms) |")
        add(f"| `runc run` to init's end, median | {fmt(ch['runc_run_ms'], '.0f')} ms |")
        add(f"| runc failures | {ch['runc_failed']}" + (f" ({'; '.join(ch['runc_errors'])})" if ch["runc_errors"] else "") + " |")
        add(f"| initwatch CPU over the phase ({ch['phase_s']} s) | {ch['cpu_pct']:.1f} % of one CPU |")
        add(f"| failing containers reported exactly once | {ch['failing_once']}/{ch['failing']} "
            f"(missing {ch['failing_missing']}, repeated {ch['failing_repeated']}) |")
        add(f"| of which the finding names the container (container.id; else matched by cgroup id) | "
            f"{ch['failing_named']}/{ch['failing']} |")
        add(f"| healthy containers reported | {ch['healthy_reported']}/{ch['healthy']} |")
        if ch["no_cgroup_id"]:
            add(f"| containers whose cgroup the bench did not see (not matchable by cgroup id) | {ch['no_cgroup_id']} |")
        add(f"| other findings meanwhile (not the bench's containers) | {ch['other_findings']} |")
        add(f"| lost events (kernel / JSON) | {ch['lost']} / {ch['lost_json']} |")
        add(f"| RSS before → after | {ch['rss_kib_before'] / 1024:.1f} → {ch['rss_kib_after'] / 1024:.1f} MiB |")
    if not quick:
        add("")
        add("| target | measured | holds |")
        add("|---|---|---|")
        for name, measured, ok in targets(res):
            verdict = ok if isinstance(ok, str) else "yes" if ok else "n/a" if ok is None else "NO"
            add(f"| {name} | {measured} | {verdict} |")
    add("")
    add(f"Whole run: {res['elapsed_s']} s (" + ", ".join(
        f"{k} {v['s']} s, others used {v['background_pct']} % of a CPU" for k, v in res["phases"].items()) + ").")
    return "\n".join(lines) + "\n"


def targets(res):
    """(target, measured, holds: True/False/None when not measured) for each target."""
    tr, w = res["tracers"], res["workloads"]
    out = []

    def med(tk, key):
        return median(tr[tk][key]) if tk in tr and not tr[tk]["unavailable"] else None

    fine = res.get("fine")
    if "iw" in tr or fine:
        r = ci = cpu = None
        if "iw" in tr:
            by = w["exec1"]["by"]
            xs, bases = by["iw"]["ns_per_spawn"], by["nothing"]["ns_per_spawn"]
            r = median(xs) / median(bases) if xs and bases else None
            ci = ratio_ci(xs, bases)
            cpu = median(by["iw"]["cpu_ns_per_spawn"]) / median(by["nothing"]["cpu_ns_per_spawn"])
        if r is None:
            holds = None
        elif ci and ci[0] <= 1.02 < ci[1]:
            holds = "undecided: the noise interval straddles 2 %"
        else:
            holds = r <= 1.02
        if fine:  # the finer measurement decides
            fr, fci = median(fine["ratios"]), median_ci(fine["ratios"])
            holds = ("undecided: the noise interval straddles 2 %" if fci and fci[0] <= 1.02 < fci[1]
                     else fr <= 1.02)
            lead = (f"{(fr - 1) * 100:+.1f} % paired" + (f" (95 % interval {(fci[0] - 1) * 100:+.1f} … "
                                                          f"{(fci[1] - 1) * 100:+.1f} %)" if fci else "")
                    + f"; storms table: {fmt((r - 1) * 100 if r else None, '+.1f')} %")
        else:
            lead = (f"{fmt((r - 1) * 100 if r else None, '+.1f')} %"
                    + (f" (95 % interval {(ci[0] - 1) * 100:+.1f} … {(ci[1] - 1) * 100:+.1f} %)" if ci else ""))
        out.append(("serial storm slowdown with `initwatch watch` ≤ 2 % (wall time)",
                    lead + (f"; the storm's CPU time {(cpu - 1) * 100:+.1f} %" if cpu else ""), holds))
    if "iw" in tr:
        iw_cpu = med("iw", "cpu_s")
        for tk in ("bpftrace", "exitsnoop"):
            cpu = med(tk, "cpu_s")
            out.append((f"initwatch CPU ≤ 1/5 of {tk}'s", f"{fmt(iw_cpu, '.3f')} s vs {fmt(cpu, '.3f')} s",
                        None if not cpu or iw_cpu is None else iw_cpu <= cpu / 5))
        lost = [x for tk in ("iw", "iw_events") if tk in tr for x in tr[tk]["lost"] + tr[tk]["lost_json"]]
        out.append(("0 lost events at 2 spawners' highest rate", f"{max(lost) if lost else '?'}",
                    max(lost) == 0 if lost else None))
        bpf = tr["iw"]["bpf_ns"]
        for ev, limit in (("fork", 1500), ("exit", 1500), ("exec", 3000)):
            v = median(bpf.get(ev, []))
            out.append((f"BPF {ev} ≤ {limit / 1000:g} µs per run (median)", f"{fmt(v, '.0f')} ns",
                        None if v is None else v <= limit))
    lt = res.get("latency")
    if lt:
        out.append(("detection latency p99 ≤ 10 ms", f"{fmt(lt['p99_ms'], '.2f')} ms ({lt['found']}/{lt['runs']} found)",
                    None if lt["p99_ms"] is None else lt["p99_ms"] <= 10 and lt["found"] == lt["runs"]))
    sc = res.get("scale")
    if sc:
        a = sc["attach_ms_10k"]
        out.append((f"attach ≤ 500 ms with {SCALE_SMALL} processes", f"{fmt(a, '.0f')} ms", None if a is None else a <= 500))
        rss = sc["rss_kib_10k"]
        out.append((f"RSS ≤ 32 MiB with {SCALE_SMALL} tracked", f"{fmt(rss / 1024 if rss else None)} MiB",
                    None if rss is None else rss <= 32 * 1024))
    ar = res.get("argv")
    if ar:
        h = ar["hwm_kib"]
        found = all(r["found"] for r in ar["runs"])
        out.append((f"peak RSS ≤ {ARGV_RSS_TARGET_MIB} MiB with {2 * ar['per_shape']} live processes of 4 KiB argv at init's exit",
                    f"{fmt(h / 1024 if h else None)} MiB" + ("" if found else " (a finding missing)"),
                    None if h is None else h <= ARGV_RSS_TARGET_MIB * 1024 and found))
    mem = res.get("memory")
    if mem:
        for shape, sh in mem["shapes"].items():
            limit = 1024 + sh["argv_bytes"]
            per = [sh["by_count"][str(n)]["bytes_per_process"] for n in mem["counts"]]
            lost = max(sh["lost"], sh["lost_json"])
            out.append((f"≤ 1 KiB + argv bytes ({limit} B) per tracked process, {shape} argv",
                        ", ".join(f"{b:.0f} B ({n})" for b, n in zip(per, mem["counts"]))
                        + (f"; {lost} events lost: fewer tracked" if lost else "")
                        + (f"; {sh['argv_dropped']} argv cut by the budget" if sh.get("argv_dropped") else ""),
                        "n/a: events lost" if lost else max(per) <= limit))
    ch = res.get("churn")
    if ch:
        out.append(("0 lost events during container churn", f"{ch['lost']} / {ch['lost_json']}",
                    ch["lost"] == 0 and ch["lost_json"] == 0))
        out.append(("every failing container reported exactly once, no healthy one",
                    f"{ch['failing_once']}/{ch['failing']} once, {ch['healthy_reported']}/{ch['healthy']} healthy reported",
                    ch["failing_once"] == ch["failing"] and ch["healthy_reported"] == 0))
        out.append(("… each finding naming its container (container.id)", f"{ch['failing_named']}/{ch['failing']}",
                    ch["failing_named"] == ch["failing"]))
        grew = ch["rss_kib_after"] - ch["rss_kib_before"]
        out.append(("RSS after the churn back within 2 MiB of before", f"{grew / 1024:+.1f} MiB", grew <= CHURN_RSS_TARGET_KIB))
    return out
