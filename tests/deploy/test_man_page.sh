#!/usr/bin/env bash
# docs/initwatch.8 (the man page the Debian package ships) against the program itself:
#   1. every option of `initwatch --help` is in its OPTIONS section, and every option there
#      is in `initwatch --help` (the options every command takes);
#   2. the same for each command: the options `initwatch watch --help` (run, check) adds to
#      those are exactly the ones of the page's WATCH OPTIONS (RUN OPTIONS; check adds none);
#   3. every command of `initwatch --help` has its entry under COMMANDS, and no other;
#   4. the version in .TH is `initwatch --version`'s;
#   5. man(1) renders it without a groff warning (what lintian checks), if man is installed.
# No root needed. INITWATCH_BIN overrides the binary (default build/initwatch); MAN_PAGE
# the page.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${INITWATCH_BIN:-$top/build/initwatch}
page=${MAN_PAGE:-$top/docs/initwatch.8}
[[ -x $bin ]] || { echo "test_man_page: no $bin (build first)" >&2; exit 1; }
[[ -f $page ]] || { echo "test_man_page: no $page" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
timeout 10 "$bin" --help >"$work/top"
for sub in watch run check; do timeout 10 "$bin" "$sub" --help >"$work/$sub"; done
timeout 10 "$bin" --version >"$work/version"

python3 - "$work" "$page" <<'PYTHON'
import re
import sys

work, page = sys.argv[1:]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def help_options(path):
    """The option names of a CLI11 --help: '  -o,--output TEXT  ...' under 'Options:'."""
    names, section = set(), None
    for line in open(path):
        if re.match(r"^\S.*:$", line):
            section = line.strip()
            continue
        m = re.match(r"^  ((?:-\w,)?--[\w-]+)", line)
        if section == "Options:" and m:
            names.update(m.group(1).split(","))
    return names


def help_commands(path):
    names, section = set(), None
    for line in open(path):
        if re.match(r"^\S.*:$", line):
            section = line.strip()
            continue
        m = re.match(r"^  (\w[\w-]*)\s", line)
        if section == "Subcommands:" and m:
            names.add(m.group(1))
    return names


# The page: the tag line after each .TP, per .SH section; roff's \- is a dash.
sections, current, tags = {}, None, []
lines = open(page).read().splitlines()
for i, line in enumerate(lines):
    if line.startswith(".SH "):
        current = line[4:].strip().strip('"')
        sections.setdefault(current, [])
    elif line.startswith(".TP") and current and i + 1 < len(lines):
        sections[current].append(lines[i + 1])


def page_options(section):
    names = set()
    for tag in sections.get(section, []):
        text = tag.replace("\\-", "-")
        text = re.sub(r"\\f[BIRP]", " ", text)
        names.update(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", text))
    return names


top = help_options(f"{work}/top")
check(len(top) > 20, f"initwatch --help lists {len(top)} options")
for name, got in (("OPTIONS", page_options("OPTIONS")),):
    check(top - got == set(), f"every option of initwatch --help is in {name}: missing {sorted(top - got)}")
    check(got - top == set(), f"every option in {name} is one of initwatch --help: unknown {sorted(got - top)}")

for sub, section in (("watch", "WATCH OPTIONS"), ("run", "RUN OPTIONS"), ("check", "CHECK OPTIONS")):
    own = help_options(f"{work}/{sub}")
    check("--help" in own and len(own) > 2, f"initwatch {sub} --help lists {len(own)} options")
    # What the command adds to the options every command takes (--version is the program's only).
    added = own - top
    check(top - {"--version"} <= own, f"initwatch {sub} takes every option of OPTIONS but --version")
    got = page_options(section)
    check(added - got == set(), f"every option initwatch {sub} adds is in {section}: missing {sorted(added - got)}")
    check(got - added == set(), f"every option in {section} is one initwatch {sub} adds: unknown {sorted(got - added)}")

commands = help_commands(f"{work}/top")
listed = {re.sub(r"^\.B\s+", "", t).strip() for t in sections.get("COMMANDS", [])}
check(commands == {"watch", "run", "check"} and listed == commands,
      f"COMMANDS lists the commands of initwatch --help: {sorted(listed)} vs {sorted(commands)}")

version = open(f"{work}/version").read().split()[-1]
th = next((l for l in lines if l.startswith(".TH ")), "")
check(f'"initwatch {version}"' in th, f".TH names initwatch {version}: {th}")

if failures:
    print(f"test_man_page: {len(failures)} failed", file=sys.stderr)
    sys.exit(1)
PYTHON

if command -v man >/dev/null; then
    # As lintian renders it: every groff warning on stderr.
    warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 timeout 30 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    if [[ -n $warnings ]]; then
        echo "FAIL man --warnings: $warnings"
        exit 1
    fi
    echo "ok   man --warnings renders it silently"
else
    echo "skip man --warnings: man-db not installed"
fi
echo "test_man_page: the page and the program agree"
