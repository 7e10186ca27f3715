"""Container churn: runc containers in Kubernetes cgroup paths, started at a fixed rate,
and the findings initwatch reports about them."""

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
import uuid

from .base import TOP, Interrupted, read, run, write
from .machine import cgroup_mounts

# The churn's containers: the story's backgrounded server (examples/story, the kernel tests'
# scenarios) and a healthy entrypoint whose server is init and ends on its own.
CHURN_FAILING_SCRIPT = os.path.join(TOP, "examples", "story", "2-server-backgrounded.sh")
CHURN_HEALTHY_SCRIPT = "#!/bin/sh\n# The server in the foreground: it is the container's init, and ends on its own.\nexec sleep 1\n"
# Debian's busybox-static has no nohup applet: the story's script calls it.
BUSYBOX_NOHUP = "#!/bin/sh\ntrap '' HUP\nexec \"$@\"\n"


CONTAINER_ID = re.compile(r"[0-9a-f]{64}")


def churn_findings(path, by_cgroup_id):
    """The init_exit findings: (container id, named) each, where the id is the finding's
    container.id (else the cgroup path's last 64-hex): named, else the container whose
    cgroup id (`by_cgroup_id`) the finding has: not named; (None, container object) when
    neither."""
    out = []
    for line in read(path, "").splitlines():
        try:
            j = json.loads(line)
        except ValueError:
            continue
        if j.get("type") != "init_exit":
            continue
        c = j.get("container") or {}
        ids = CONTAINER_ID.findall(c.get("cgroup_path") or "")
        cid = c.get("id") or (ids[-1] if ids else None)
        if cid:
            out.append((cid, True))
        elif c.get("cgroup_id") in by_cgroup_id:
            out.append((by_cgroup_id[c["cgroup_id"]], False))
        else:
            out.append((None, c))
    return out


class Churn:
    """runc containers from one busybox rootfs (read-only, shared), each in a Kubernetes
    cgroup path of its own (/kubepods/burstable/pod<uid>/<64-hex id>: initwatch reports
    the id), run in the foreground (`runc run` returns when init exits and deletes the
    container). Everything is undone by close(), also from Machine's clean-up on Ctrl-C:
    containers still there (runc delete -f), their cgroups in every hierarchy, the files."""

    def __init__(self, machine, d):
        self.d, self.state = d, os.path.join(d, "state")
        self.rootfs = os.path.join(d, "rootfs")
        self.live = {}  # id -> pod uid, while runc may have it
        self.lock = threading.Lock()
        self.closed = False
        self.mounts = cgroup_mounts()
        self.cgroup2 = machine.cgroup2_mount()
        # Parents a container's cgroup needs: removed at the end if the bench made them.
        self.parents = [p for p in ("/kubepods/burstable", "/kubepods")
                        if not any(os.path.isdir(m + p) for m in self.mounts)]
        os.makedirs(self.state)
        machine.undo.append(self.close)
        self.runc = shutil.which("runc") or "/usr/sbin/runc"
        for sub in ("bin", "proc", "sys", "dev", "tmp", "etc"):
            os.makedirs(os.path.join(self.rootfs, sub))
        shutil.copy(shutil.which("busybox") or "/bin/busybox", os.path.join(self.rootfs, "bin", "busybox"))
        for applet in ("sh", "sleep", "true", "echo"):
            os.symlink("busybox", os.path.join(self.rootfs, "bin", applet))
        for name, text, mode in (("bin/nohup", BUSYBOX_NOHUP, 0o755),
                                 ("server-backgrounded.sh", read(CHURN_FAILING_SCRIPT), 0o755),
                                 ("healthy.sh", CHURN_HEALTHY_SCRIPT, 0o755)):
            write(os.path.join(self.rootfs, name), text)
            os.chmod(os.path.join(self.rootfs, name), mode)
        run([self.runc, "spec", "--bundle", d])
        config = json.loads(read(os.path.join(d, "config.json")))
        config["root"] = {"path": self.rootfs, "readonly": True}
        config["process"]["terminal"] = False
        config["process"]["env"] = ["PATH=/bin", "PRODUCTION_ENV=1"]
        self.config = config

    def run(self, kind, due):
        cid = os.urandom(32).hex()
        uid = str(uuid.uuid4())
        bundle = os.path.join(self.d, cid[:16])
        os.makedirs(bundle)
        config = copy.deepcopy(self.config)
        config["process"]["args"] = ["/server-backgrounded.sh" if kind == "failing" else "/healthy.sh"]
        config["linux"]["cgroupsPath"] = f"/kubepods/burstable/pod{uid}/{cid}"
        write(os.path.join(bundle, "config.json"), json.dumps(config))
        with self.lock:
            if self.closed:
                raise Interrupted("closed")
            self.live[cid] = uid
        started = time.monotonic()
        logfile = os.path.join(bundle, "runc.log")
        cgroup2 = self.cgroup2 + config["linux"]["cgroupsPath"]
        cgroup_id = None
        with open(logfile, "w") as logf:  # runc's stdio is the container's: never a pipe
            p = subprocess.Popen([self.runc, "--root", self.state, "run", "--bundle", bundle, cid],
                                 stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
            try:
                # The cgroup2 directory's inode is the cgroup id in findings: it matches a
                # finding that could not name its container (the cgroup already removed).
                while cgroup_id is None and p.poll() is None:
                    try:
                        cgroup_id = os.stat(cgroup2).st_ino
                    except OSError:
                        time.sleep(0.01)
                status = p.wait(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        run_ms = (time.monotonic() - started) * 1000
        error = read(logfile, "").strip().splitlines()[-1:] if status != 0 else []
        self.remove_cgroups(cid, uid)
        with self.lock:
            self.live.pop(cid, None)
        shutil.rmtree(bundle, ignore_errors=True)
        return {"id": cid, "kind": kind, "status": status, "error": error[0][:200] if error else None,
                "cgroup_id": cgroup_id,
                "started": started, "lag_ms": (started - due) * 1000, "run_ms": run_ms}

    def remove_cgroups(self, cid, uid):
        """runc removes the container's cgroup, not its parents; after a kill, neither."""
        for rel in (f"/kubepods/burstable/pod{uid}/{cid}", f"/kubepods/burstable/pod{uid}"):
            for m in self.mounts:
                path = m + rel
                if not os.path.isdir(path):
                    continue
                for pid in read(os.path.join(path, "cgroup.procs"), "").split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except (ProcessLookupError, ValueError):
                        pass
                for _ in range(50):
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:  # busy for a moment after its last process died
                        time.sleep(0.02)

    def close(self):
        with self.lock:
            if self.closed:
                return
            self.closed = True
            left = dict(self.live)
        for cid, uid in left.items():
            subprocess.run([self.runc, "--root", self.state, "delete", "-f", cid], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            self.remove_cgroups(cid, uid)
        for rel in self.parents:
            for m in self.mounts:
                try:
                    os.rmdir(m + rel)
                except OSError:
                    pass
        shutil.rmtree(self.d, ignore_errors=True)
