"""The tracers compared (initwatch, bpftrace, bcc's exitsnoop): their set-up, start,
readiness, CPU and memory, their BPF programs seen through bpftool, and what initwatch
reports (lost events, its JSON lines read from a pipe with their arrival times)."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from .base import CACHE, BenchError, log, read, run, write
from .build import download

# A tracer is ready when its programs are loaded and one of its threads waits for events:
# poll select epoll_wait pselect6 ppoll epoll_pwait epoll_pwait2 (none known: not checked).
POLL_SYSCALLS = {"x86_64": {7, 23, 232, 270, 271, 281, 441},
                 "aarch64": {22, 72, 73, 441}}.get(os.uname().machine)
BPFTRACE_SCRIPT = r"""
tracepoint:sched:sched_process_fork { printf("fork %d -> %d %s\n", args->parent_pid, args->child_pid, comm); }
tracepoint:sched:sched_process_exec { printf("exec %d %s\n", pid, str(args->filename)); }
tracepoint:sched:sched_process_exit { printf("exit %d %s\n", pid, comm); }
"""


def bcc_kernel_source():
    """bcc compiles against kernel headers. Use the running kernel's when installed; else
    Debian's 6.12 headers, downloaded and extracted once into the cache (their struct
    offsets may differ from the running kernel: only exitsnoop's cost is meaningful)."""
    release = os.uname().release
    if os.path.isdir(f"/lib/modules/{release}/build/include"):
        return None
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    pattern = rf"^linux-headers-6\.12\.[0-9]+\+deb12-{arch}$"

    def search():
        r = subprocess.run(["apt-cache", "search", "--names-only", pattern], capture_output=True, text=True)
        return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]

    names = search()
    if not names:
        raise BenchError(f"no Debian 6.12 kernel headers package for {arch} found by apt-cache "
                         "(the package index may be stale)")
    name = max(names, key=lambda n: int(re.search(r"6\.12\.(\d+)", n).group(1)))
    flavour = name[len("linux-headers-"):]  # 6.12.117+deb12-amd64
    base = flavour[: -len(arch) - 1]  # 6.12.117+deb12
    dest = os.path.join(CACHE, f"linux-headers-{flavour}")
    if os.path.exists(os.path.join(dest, ".complete")):
        return dest
    log(f"extracting {name} and linux-headers-{base}-common into {dest} (once)")
    os.makedirs(CACHE, exist_ok=True)
    work = tempfile.mkdtemp(prefix="headers.", dir=CACHE)
    try:
        os.chmod(work, 0o755)  # apt's _apt user writes the download here
        download(work, [name, f"linux-headers-{base}-common"])
        root = os.path.join(work, "root")
        for deb in os.listdir(work):
            if deb.endswith(".deb"):
                run(["dpkg-deb", "-x", os.path.join(work, deb), root])
        src = os.path.join(root, "usr", "src")
        # Debian splits the tree: the -common package has the sources' headers, the
        # flavour package the generated ones and .config; bcc wants one tree.
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(os.path.join(src, f"linux-headers-{base}-common"), dest, symlinks=True)
        flavour_dir = os.path.join(src, f"linux-headers-{flavour}")
        for entry in os.listdir(flavour_dir):
            if entry in ("Makefile", "scripts", "tools", "vmlinux"):
                continue
            s, d = os.path.join(flavour_dir, entry), os.path.join(dest, entry)
            if os.path.isdir(s) and not os.path.islink(s):
                shutil.copytree(s, d, symlinks=True, dirs_exist_ok=True)
            else:
                shutil.copy2(s, d, follow_symlinks=False)
        write(os.path.join(dest, ".complete"), name + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


# --- BPF programs, seen through bpftool ---------------------------------------------------


def bpftool_json(*args):
    r = subprocess.run(["bpftool", *args, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    return json.loads(r.stdout or "[]")


def bpf_progs():
    return {p["id"]: p for p in bpftool_json("prog", "show")}


def sched_progs():
    """BPF programs on the process tracepoints: id -> (fork|exec|exit, name)."""
    perf = {p["prog_id"]: p.get("tracepoint", "") for p in bpftool_json("perf", "show")}
    out = {}
    for i, p in bpf_progs().items():
        name = perf.get(i) or p.get("name", "")
        if p.get("type") in ("tracing", "tracepoint", "raw_tracepoint") and event_of(name):
            out[i] = (event_of(name), name)
    return out


def owned_prog_ids(pid):
    """The BPF programs a process holds (program and link fds), from /proc/PID/fdinfo:
    other tools may load programs of the same names meanwhile."""
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return ids
    for fd in fds:
        m = re.search(r"^prog_id:\s+(\d+)", read(f"/proc/{pid}/fdinfo/{fd}", ""), re.M)
        if m:
            ids.add(int(m.group(1)))
    return ids


def foreign_sched_progs(own=()):
    """Programs of other tools on the process tracepoints: every storm, "nothing attached"
    included, would pay for them."""
    return sorted(f"{i} {name}" for i, (_, name) in sched_progs().items() if i not in own)


def event_of(name):
    for ev in ("fork", "exec", "exit"):
        if ev in name:
            return ev
    return None


# --- tracers --------------------------------------------------------------------------------


class Tracer:
    """A tracer process: started, checked ready, measured, stopped."""

    def __init__(self, machine, name, argv, events, env=None, stdout=None, ready_line=None):
        """stdout: a file to write, subprocess.PIPE, or None for /dev/null."""
        self.machine, self.name, self.argv, self.events = machine, name, argv, set(events)
        self.env, self.stdout, self.ready_line = env, stdout, ready_line
        self.proc = None
        self.stderr_lines = []  # (monotonic ns, line)
        self.progs = {}  # event -> prog id
        self.start_ns = None
        self.lock = threading.Lock()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            t = time.monotonic_ns()
            with self.lock:
                self.stderr_lines.append((t, raw.decode(errors="replace").rstrip("\n")))

    def stderr_tail(self, n=8):
        with self.lock:
            return "\n".join(line for _, line in self.stderr_lines[-n:])

    def line_time(self, needle):
        with self.lock:
            for t, line in self.stderr_lines:
                if needle in line:
                    return t
        return None

    def start(self, timeout=90, settle=0.5):
        out = open(self.stdout, "w") if isinstance(self.stdout, str) else self.stdout or subprocess.DEVNULL
        self.start_ns = time.monotonic_ns()
        self.proc = self.machine.popen(self.argv, stdout=out, stderr=subprocess.PIPE, env=self.env,
                                       stdin=subprocess.DEVNULL)
        if isinstance(self.stdout, str):
            out.close()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise BenchError(f"{self.name} exited with status {self.proc.returncode}: {self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} not ready after {timeout} s: {self.stderr_tail()}")
            if self.ready_line is None or self.line_time(self.ready_line) is not None:
                if self._find_progs() and self._waiting():
                    break
            time.sleep(0.05)
        self.ready_ms = (time.monotonic_ns() - self.start_ns) / 1e6
        time.sleep(settle)  # let start-up work (e.g. initwatch's snapshot) settle

    def _find_progs(self):
        owned = owned_prog_ids(self.proc.pid)
        found = {}
        for i, (ev, _) in sched_progs().items():
            if i in owned and ev in self.events:
                found[ev] = i
        if set(found) != self.events:
            return False
        self.progs = found
        return True

    def _waiting(self):
        if POLL_SYSCALLS is None:
            return True
        pid = self.proc.pid
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return False
        for tid in tids:
            fields = read(f"/proc/{pid}/task/{tid}/syscall", "running").split()
            if fields and fields[0].isdigit() and int(fields[0]) in POLL_SYSCALLS:
                return True
        return False

    def cpu_ticks(self):
        """utime+stime of the whole process, in clock ticks."""
        stat = read(f"/proc/{self.proc.pid}/stat")
        fields = stat[stat.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])

    def cpu_ns(self):
        """The same CPU time at ns resolution: sum_exec_runtime of every thread."""
        total = 0
        for tid in os.listdir(f"/proc/{self.proc.pid}/task"):
            total += int(read(f"/proc/{self.proc.pid}/task/{tid}/schedstat", "0").split()[0])
        return total

    def status_kib(self, field):
        m = re.search(rf"^{field}:\s+(\d+) kB", read(f"/proc/{self.proc.pid}/status"), re.M)
        return int(m.group(1)) if m else None

    def prog_stats(self):
        progs = bpf_progs()
        return {ev: (progs[i].get("run_time_ns", 0), progs[i].get("run_cnt", 0))
                for ev, i in self.progs.items() if i in progs}

    def named_prog_stats(self, name):
        """(run_time_ns, run_cnt) of the program of that name this tracer holds; None without one."""
        progs = bpf_progs()
        for i in owned_prog_ids(self.proc.pid):
            if progs.get(i, {}).get("name") == name:
                return progs[i].get("run_time_ns", 0), progs[i].get("run_cnt", 0)
        return None

    def drops(self):
        """initwatch's per-CPU drop counters, summed per reason (the kernel's own count)."""
        prog = bpf_progs().get(self.progs.get("fork"))
        if not prog:
            return None
        maps = {m["id"]: m for m in bpftool_json("map", "show")}
        for map_id in prog.get("map_ids", []):
            if maps.get(map_id, {}).get("name") == "drops":
                counts = {}
                for entry in bpftool_json("map", "dump", "id", str(map_id)):
                    f = entry.get("formatted", {})
                    counts[f.get("key")] = sum(v["value"] for v in f.get("values", []))
                return counts
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


# Reasons of `lost` lines that lost no record: the process is tracked, with less of its argv.
ARGV_ONLY_REASONS = {"argv_unreadable", "argv_dropped", "argv_read_timeout"}


def json_lost(path, argv_only=False):
    """Sum of initwatch's JSON `lost` lines, by reason: records lost, or (argv_only) the
    processes tracked with less than their argv (the byte budget, unreadable argv)."""
    lost = {}
    for line in read(path, "").splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("type") == "lost":
            for reason, n in j.get("counts", {}).items():
                if (reason in ARGV_ONLY_REASONS) == argv_only:
                    lost[reason] = lost.get(reason, 0) + n
    return lost


class StampedLines:
    """Reads a pipe in a thread: each line with the CLOCK_REALTIME ns at which its first
    and its last byte arrived (a finding of many MiB comes in many reads)."""

    def __init__(self, f):
        self.lines = []  # (first ns, last ns, bytes)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._read, args=(f.fileno(),), daemon=True)
        self.thread.start()

    def _read(self, fd):
        buf, first = bytearray(), None
        while True:
            chunk = os.read(fd, 1 << 20)
            t = time.time_ns()
            if not chunk:
                return
            start = 0
            while start < len(chunk):
                if first is None:
                    first = t
                end = chunk.find(b"\n", start)
                if end < 0:
                    buf += chunk[start:]
                    break
                buf += chunk[start:end]
                with self.lock:
                    self.lines.append((first, t, bytes(buf)))
                buf, first, start = bytearray(), None, end + 1

    def get(self):
        with self.lock:
            return list(self.lines)
