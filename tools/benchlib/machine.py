"""The machine the bench runs on: what it is (CPU, kernel, memory), the CPU others use
meanwhile, and every change the bench makes to it, undone at the end (Machine)."""

import os
import re
import resource
import signal
import subprocess
import time

from .base import BenchError, CLK_TCK, log, read, run, write

def machine_description():
    info = {}
    for line in read("/proc/cpuinfo", "").splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    cpu = info.get("model name", "unknown")
    if "cpu family" in info:
        cpu += f", family {info['cpu family']} model {info.get('model')} stepping {info.get('stepping')}"
    if "cpu MHz" in info:
        cpu += f", {float(info['cpu MHz']):.0f} MHz"
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", read("/proc/meminfo")).group(1))
    u = os.uname()
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": f"{u.release} ({u.version})", "cpu": cpu,
            "clocksource": read("/sys/devices/system/clocksource/clocksource0/current_clocksource", "?").strip(),
            "debian": read("/etc/debian_version", "?").strip()}


def cpu_busy_s():
    """CPU time used on the whole machine (all CPUs, steal excluded), in seconds."""
    f = [int(x) for x in read("/proc/stat").split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = f[:7]
    return (user + nice + system + irq + softirq) / CLK_TCK


def own_cpu_s():
    """CPU time of the bench itself and of every child it has waited for (the storms)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        total += ru.ru_utime + ru.ru_stime
    return total


def cgroup_mounts():
    """Mount points of every cgroup hierarchy (v1 controllers and cgroup2)."""
    out = []
    for line in read("/proc/self/mountinfo").splitlines():
        fields = line.split()
        sep = fields.index("-")
        if fields[sep + 1] in ("cgroup", "cgroup2") and fields[3] == "/":
            out.append(fields[4])
    return out


# --- what the bench changes on the machine, and undoes ------------------------------------


class Machine:
    """Owns every change: a cgroup holding every process started (killed at the end),
    sysctls (restored), a tracefs mount (unmounted)."""

    def __init__(self):
        self.sysctls = {}
        self.mounted_tracefs = False
        self.cgroup = None
        self.home_cgroup = None
        self.cpu_cgroup = None
        self.cpu_home = None
        self.procs = []
        self.undo = []  # callables run first at clean-up (containers, their cgroups)

    def cgroup2_mount(self):
        for line in read("/proc/self/mountinfo").splitlines():
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup2":
                return fields[4]
        raise BenchError("no cgroup2 mount: the bench needs one to clean up what it starts")

    def enter_cgroup(self):
        root = self.cgroup2_mount()
        # Leftovers of a bench that was killed (SIGKILL leaves no time to clean up).
        for entry in os.listdir(root):
            m = re.fullmatch(r"initwatch-bench\.(\d+)", entry)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                self.kill_cgroup(os.path.join(root, entry))
        rel = next(line[3:] for line in read("/proc/self/cgroup").splitlines() if line.startswith("0::"))
        self.home_cgroup = os.path.join(root, rel.lstrip("/"))
        self.cgroup = os.path.join(root, f"initwatch-bench.{os.getpid()}")
        os.mkdir(self.cgroup)
        write(os.path.join(self.cgroup, "cgroup.procs"), str(os.getpid()))

    def raise_cpu_weight(self):
        """On a shared machine, other work disturbs the storms less when the bench (and all
        it starts, whatever the condition) has the CPU first: a v1 cpu cgroup with the
        largest cpu.shares, else cgroup2's cpu.weight when that controller is enabled."""
        for line in read("/proc/self/mountinfo").splitlines():
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] == "cgroup" and "cpu" in fields[sep + 3].split(","):
                root = fields[4]
                for entry in os.listdir(root):
                    m = re.fullmatch(r"initwatch-bench\.(\d+)", entry)
                    if m and not os.path.exists(f"/proc/{m.group(1)}"):
                        try:
                            os.rmdir(os.path.join(root, entry))
                        except OSError:
                            pass
                rel = next(l.split(":", 2)[2] for l in read("/proc/self/cgroup").splitlines()
                           if "cpu" in l.split(":")[1].split(","))
                self.cpu_home = os.path.join(root, rel.lstrip("/"))
                self.cpu_cgroup = os.path.join(root, f"initwatch-bench.{os.getpid()}")
                os.mkdir(self.cpu_cgroup)
                write(os.path.join(self.cpu_cgroup, "cpu.shares"), "262144")
                write(os.path.join(self.cpu_cgroup, "cgroup.procs"), str(os.getpid()))
                return "cgroup v1 cpu.shares 262144"
        if os.path.exists(os.path.join(self.cgroup, "cpu.weight")):
            write(os.path.join(self.cgroup, "cpu.weight"), "10000")
            return "cgroup2 cpu.weight 10000"
        return None

    def kill_cgroup(self, path):
        try:
            write(os.path.join(path, "cgroup.kill"), "1")
        except OSError:  # before 5.14: one by one
            for pid in read(os.path.join(path, "cgroup.procs"), "").split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "populated 0" in read(os.path.join(path, "cgroup.events"), "populated 0"):
                break
            time.sleep(0.05)
        try:
            os.rmdir(path)
        except OSError as e:
            log(f"warning: cannot remove {path}: {e}")

    def set_sysctl(self, name, value):
        path = "/proc/sys/" + name.replace(".", "/")
        if name not in self.sysctls:
            self.sysctls[name] = read(path).strip()
        write(path, str(value))

    def mount_tracefs(self):
        if subprocess.run(["mountpoint", "-q", "/sys/kernel/tracing"]).returncode != 0:
            run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
            self.mounted_tracefs = True

    def popen(self, argv, **kw):
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for undo in reversed(self.undo):
            try:
                undo()
            except Exception as e:  # the rest of the clean-up must run
                log(f"warning: clean-up: {e}")
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.cgroup:
            try:
                write(os.path.join(self.home_cgroup, "cgroup.procs"), str(os.getpid()))
                self.kill_cgroup(self.cgroup)
            except OSError as e:
                log(f"warning: cleaning up {self.cgroup}: {e}")
        if self.cpu_cgroup:
            try:
                write(os.path.join(self.cpu_home, "cgroup.procs"), str(os.getpid()))
                for _ in range(100):  # its last tasks are gone with the cgroup2 kill above
                    try:
                        os.rmdir(self.cpu_cgroup)
                        break
                    except OSError:
                        time.sleep(0.1)
            except OSError as e:
                log(f"warning: cleaning up {self.cpu_cgroup}: {e}")
        for name, value in self.sysctls.items():
            try:
                write("/proc/sys/" + name.replace(".", "/"), value)
            except OSError as e:
                log(f"warning: cannot restore {name}={value}: {e}")
        if self.mounted_tracefs:
            subprocess.run(["umount", "-l", "/sys/kernel/tracing"])
