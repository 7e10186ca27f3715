"""What every part of the bench uses: its paths, errors, log line, and file and process
helpers."""

import calendar
import os
import re
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
CACHE = os.environ.get("INITWATCH_BENCH_CACHE", "/var/cache/initwatch-bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


class Interrupted(Exception):
    pass


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(argv, **kw):
    return subprocess.run(argv, check=True, **kw)


def read(path, default=None):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        if default is None:
            raise
        return default


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def parse_rfc3339_ns(s):
    """'2026-11-27T20:57:08.271157Z' -> ns since the epoch, without float rounding."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z", s)
    if not m:
        raise ValueError(s)
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]) + (0, 0, 0))
    frac = (m.group(7) or "0").ljust(9, "0")
    return secs * 1_000_000_000 + int(frac)
