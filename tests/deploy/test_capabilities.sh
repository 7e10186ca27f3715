#!/usr/bin/env bash
# Proves, by experiment, the capability set of deploy/kubernetes/daemonset.yaml:
# `initwatch watch` works with CAP_BPF + CAP_PERFMON and nothing else, and without either
# one it fails cleanly (exit 2, one line on stderr).
#
# initwatch runs here as uid 0 with every other capability removed from its bounding set
# (so also from its permitted and effective sets after exec): exactly what a container
# runtime gives a uid-0 container whose securityContext says
# `capabilities: {drop: [ALL], add: [BPF, PERFMON]}`.
#
# Why each one is needed (checked on 6.18; CAP_BPF and CAP_PERFMON exist since 5.8):
#   CAP_BPF      the bpf() syscall itself: loading BTF, creating the maps (ring buffer,
#                per-CPU drop counters, the exit de-duplication hash) and the programs.
#                Without it: "cannot load BPF programs: Operation not permitted".
#   CAP_PERFMON  the programs are BPF_PROG_TYPE_TRACING (tp_btf tracepoints, the task
#                iterator) and read kernel and user memory (bpf_probe_read_kernel/_user,
#                argv); the verifier only allows that with perfmon_capable().
#                Without it: the same one-line error, at program load.
# Not needed, and shown here by their absence from the working set:
#   CAP_SYS_ADMIN     stood in for both before 5.8; nothing initwatch does needs it here
#                     (libbpf only asks for module BTF ids, which would need it, when a
#                     type is missing from vmlinux BTF, and every tracepoint is in vmlinux).
#                     Enabling kernel.bpf_stats_enabled from inside would need it: the
#                     DaemonSet does not, a node admin sets the sysctl if wanted.
#   CAP_SYS_RESOURCE  RLIMIT_MEMLOCK: since 5.11 BPF memory is charged to the memory
#                     cgroup instead (libbpf skips the bump). On older kernels add it.
#   CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH  /sys/kernel/btf/vmlinux, the cgroup2 tree and
#                     /proc/PID/cmdline are world-readable: the same run works as uid 65534.
#   CAP_SYS_PTRACE    nothing reads /proc/PID/{exe,environ,mem}.
#   CAP_NET_BIND_SERVICE  the metrics port (9090) is above 1024.
#
# The same held inside a real container (containerd 1.6.20 + runc, the image of ../../Dockerfile,
# read-only root, host PID namespace, no_new_privs, containerd's default seccomp profile,
# the DaemonSet's mounts): CapEff 000000c000000000, a finding with its cgroup path; either
# capability removed, exit 2 with the same one line.
#
# Root only. Skips (exit 77) when not root, fails under CI=true. INITWATCH_BIN overrides
# the binary (default build/initwatch).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
bin=${INITWATCH_BIN:-$top/build/initwatch}
minimal=(bpf perfmon)

if [[ $(id -u) -ne 0 ]]; then
    if [[ ${CI:-} == true ]]; then echo "test_capabilities: must run as root under CI=true" >&2; exit 1; fi
    echo "test_capabilities: skipped (needs root)" >&2
    exit 77
fi
[[ -x $bin ]] || { echo "test_capabilities: no $bin (build first)" >&2; exit 1; }
command -v setpriv >/dev/null || { echo "test_capabilities: setpriv (util-linux) missing" >&2; exit 1; }

failures=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

work=$(mktemp -d)
cgroup=""
cleanup() {
    [[ -n $cgroup && -d $cgroup ]] && rmdir "$cgroup" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# "bpf perfmon" -> "-all,+bpf,+perfmon"
bounding() {
    local spec=-all cap
    for cap in "$@"; do spec+=",+$cap"; done
    echo "$spec"
}

# Runs initwatch as uid 0 with exactly these capabilities; extra arguments follow `watch`.
# Every run has a deadline (--duration is initwatch's own; `timeout` holds if it hangs).
run_with() {
    local caps=$1
    shift
    # shellcheck disable=SC2086
    timeout -k 5 60 setpriv --inh-caps=-all --ambient-caps=-all --bounding-set="$(bounding $caps)" -- "$bin" watch "$@"
}

# Where --metrics-address exists, the agent's HTTP bind is part of the proof too.
extra=()
if "$bin" watch --help 2>/dev/null | grep -q -- --metrics-address; then extra=(--metrics-address 127.0.0.1:0); fi

# 0. The harness really removes capabilities: CapEff is CAP_PERFMON (38) + CAP_BPF (39).
# shellcheck disable=SC2016  # awk program, not a shell expansion
eff=$(setpriv --inh-caps=-all --ambient-caps=-all --bounding-set="$(bounding "${minimal[@]}")" -- \
    awk '/^CapEff/ {print $2}' /proc/self/status)
if [[ $eff == 000000c000000000 ]]; then pass "setpriv leaves CapEff=$eff (bpf, perfmon only)"; else fail "CapEff=$eff"; fi

# 1. The minimal set works, and not in a degraded way: a finding from a fresh cgroup2
#    directory comes out with its cgroup path (BPF events + the cgroup2 tree read).
cgroup2=$(awk '$9 == "cgroup2" {print $5; exit}' /proc/self/mountinfo)
if [[ -z $cgroup2 ]]; then
    fail "no cgroup2 mount"
else
    name=initwatch-captest-$$
    cgroup=$cgroup2/$name
    mkdir "$cgroup"
    run_with "${minimal[*]}" --json --duration 8 --log-level info "${extra[@]}" \
        >"$work/out" 2>"$work/err" &
    watcher=$!
    for _ in $(seq 100); do grep -q watching "$work/err" && break; sleep 0.1; done
    # The trigger runs with full root: only initwatch is restricted.
    timeout -k 5 30 sh -c "echo \$\$ > '$cgroup/cgroup.procs' && exec unshare --pid --fork sh -c 'sleep 30 & exit 0'"
    wait "$watcher"
    status=$?
    if [[ $status -eq 0 ]] && grep -q "\"cgroup_path\":\"/$name\"" "$work/out"; then
        pass "bpf,perfmon: exit 0, finding with cgroup path /$name"
    else
        fail "bpf,perfmon: exit $status; stderr: $(cat "$work/err"); no finding for /$name in: $(head -c 300 "$work/out")"
    fi
fi

# 2. Each capability is necessary: without it, exit 2 and one line "initwatch: ..." on stderr.
for cap in "${minimal[@]}"; do
    rest=()
    for c in "${minimal[@]}"; do [[ $c == "$cap" ]] || rest+=("$c"); done
    run_with "${rest[*]}" --duration 2 "${extra[@]}" >/dev/null 2>"$work/err"
    status=$?
    lines=$(wc -l <"$work/err")
    if [[ $status -eq 2 && $lines -eq 1 ]] && grep -q '^initwatch: ' "$work/err"; then
        pass "without $cap: exit 2, $(cat "$work/err")"
    else
        fail "without $cap: exit $status, $lines lines on stderr: $(cat "$work/err")"
    fi
done

# 3. uid 0 itself brings nothing else: the same works as nobody with the two as ambient caps.
if timeout -k 5 60 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all,+bpf,+perfmon \
    --ambient-caps=-all,+bpf,+perfmon -- "$bin" watch --duration 2 "${extra[@]}" >/dev/null 2>"$work/err"; then
    pass "uid 65534 with ambient bpf,perfmon: exit 0"
else
    fail "uid 65534 with ambient bpf,perfmon: $(cat "$work/err")"
fi

if ((failures)); then
    echo "test_capabilities: $failures failed" >&2
    exit 1
fi
echo "test_capabilities: CAP_BPF + CAP_PERFMON are sufficient and each is necessary"
