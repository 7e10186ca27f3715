#!/usr/bin/env bash
# tests/deploy/test_package.sh [--deb FILE] [--root DIR]: the Debian package as its users get
# it. On the host:
#   1. the .deb (FILE, or tools/package's build in build-deb/) holds what it must, and its
#      initwatch.service passes `systemd-analyze verify`; `systemd-analyze security
#      --offline` gives its exposure score (must stay at or under 2.5);
# then, in a fresh minimal Debian 12 chroot (tools/fresh-debian: debootstrap minbase, the
# host's mirror; DIR, reused and kept when given, else made and removed):
#   2. `apt install ./initwatch_*.deb` installs it, its dependencies from Debian;
#   3. `initwatch --version`, `initwatch check` and the story's script under `initwatch run`
#      (exit 3, one finding) work;
#   4. `apt remove` leaves only the conffile /etc/default/initwatch, `apt purge` not even
#      that, and after `apt autoremove --purge` of the dependencies the file list of the
#      whole chroot is the one before the install, but for apt's and dpkg's own logs.
# Root only (skipped, exit 77, otherwise; failed under CI=true). It loads BPF: it takes the
# BPF lock itself (flock /tmp/initwatch-bpf.lock) for the chroot's run. About 2 minutes
# with a built package and a kept chroot; building both adds about 5 and 1.5 minutes.
# --inside: internal, the half that runs in the chroot.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
say() { echo "test_package: $*"; }
fail() {
    echo "FAIL $*"
    exit 1
}

# --- in the chroot ------------------------------------------------------------------------
if [[ ${1:-} == --inside ]]; then
    deb=$2 story=$3
    export DEBIAN_FRONTEND=noninteractive
    # Every file and directory of the chroot's own file system (the mounts of /proc, /sys,
    # /dev and /run are others), but this test's own files, the clone of the repository, and
    # the repository's git directory that tools/fresh-debian mounts at /src.git (a bind
    # mount from the same file system, which -xdev does not skip, and which other work
    # trees of the repository may add objects to meanwhile).
    files() {
        find / -xdev \( -path /root/initwatch -o -path /root/pkgtest -o -path /tmp -o -path /src.git \) -prune \
            -o -printf '%p\n' | sort
    }
    apt-get update -qq
    files >/root/pkgtest/before
    say "apt install $deb"
    apt-get install -y -qq --no-install-recommends "$deb" >/root/pkgtest/install.log 2>&1 ||
        { cat /root/pkgtest/install.log; fail "apt install"; }
    grep -E '^(Setting up|Unpacking) ' /root/pkgtest/install.log | sed 's/^/  /' | grep -F 'Setting up' || true
    files >/root/pkgtest/installed
    dpkg -L initwatch | sort >/root/pkgtest/owned
    echo "ok   installed: $(dpkg-query -W -f '${Package} ${Version} ${Status}' initwatch)"
    for f in /usr/sbin/initwatch /lib/systemd/system/initwatch.service /etc/default/initwatch \
        /usr/share/man/man8/initwatch.8.gz /usr/share/doc/initwatch/copyright \
        /usr/share/doc/initwatch/examples/rules.yaml; do
        [[ -e $f ]] || fail "the package installed no $f"
    done
    echo "ok   its files: $(grep -c . /root/pkgtest/owned) paths (binary, unit, /etc/default/initwatch, man page, copyright, alert rules)"
    ! ldd /usr/sbin/initwatch | grep 'not found' || fail "a library is missing"
    echo "ok   every library initwatch links is installed"

    echo "\$ initwatch --version"
    initwatch --version
    echo "\$ initwatch check"
    timeout 60 initwatch check || fail "initwatch check: exit $?"
    echo "\$ initwatch run -- sh $story"
    status=0
    timeout 60 initwatch run -- sh "$story" >/root/pkgtest/run.out 2>&1 || status=$?
    cat /root/pkgtest/run.out
    echo "(exit status $status)"
    [[ $status -eq 3 ]] || fail "initwatch run of the story: exit $status, not 3"
    grep -q 'WARNING  init exited (exit 0) leaving 1 process running' /root/pkgtest/run.out ||
        fail "no finding in the output of initwatch run"
    echo "ok   the story's script: exit 3 and its finding"

    # What is left after remove, purge and autoremove, against the list before the install.
    # apt's and dpkg's own records of what they did stay, as for any package.
    bookkeeping='^/var/(log/(apt|dpkg\.log|alternatives\.log)|lib/dpkg/|lib/apt/|cache/(apt|debconf|ldconfig)/)'
    extra() { comm -13 /root/pkgtest/before <(files) | grep -Ev "$bookkeeping" || true; }
    apt-get remove -y -qq initwatch >/root/pkgtest/remove.log 2>&1 || { cat /root/pkgtest/remove.log; fail "apt remove"; }
    left=$(comm -12 <(files) <(comm -13 /root/pkgtest/before /root/pkgtest/owned))
    [[ $left == /etc/default/initwatch ]] || fail "apt remove left: ${left:-nothing, not even the conffile}"
    echo "ok   apt remove: only the conffile /etc/default/initwatch is left"
    apt-get purge -y -qq initwatch >/root/pkgtest/purge.log 2>&1 || { cat /root/pkgtest/purge.log; fail "apt purge"; }
    left=$(comm -12 <(files) <(comm -13 /root/pkgtest/before /root/pkgtest/owned))
    [[ -z $left ]] || fail "apt purge left: $left"
    dpkg-query -W -f '${Status}' initwatch 2>/dev/null | grep -q 'not-installed' ||
        [[ -z $(dpkg-query -W -f '${Status}' initwatch 2>/dev/null) ]] || fail "dpkg still knows initwatch"
    echo "ok   apt purge: nothing of the package is left"
    apt-get autoremove --purge -y -qq >/root/pkgtest/autoremove.log 2>&1 ||
        { cat /root/pkgtest/autoremove.log; fail "apt autoremove"; }
    left=$(extra)
    gone=$(comm -23 /root/pkgtest/before <(files) | grep -Ev "$bookkeeping" || true)
    [[ -z $left && -z $gone ]] || fail "after autoremove --purge, new: ${left:-none}; gone: ${gone:-none}"
    echo "ok   apt autoremove --purge: the chroot's file list is the one before the install" \
        "($(grep -c . /root/pkgtest/before) paths; apt's and dpkg's logs and state aside)"
    exit 0
fi

# --- on the host --------------------------------------------------------------------------
deb="" root=""
while (($#)); do
    case $1 in
        --deb) deb=$2; shift ;;
        --root) root=$2; shift ;;
        *) echo "usage: tests/deploy/test_package.sh [--deb FILE] [--root DIR]" >&2; exit 2 ;;
    esac
    shift
done
if [[ $(id -u) -ne 0 ]]; then
    if [[ ${CI:-} == true ]]; then echo "test_package: must run as root under CI=true" >&2; exit 1; fi
    echo "test_package: skipped (needs root)" >&2
    exit 77
fi
"$top/tools/apt-install" systemd

if [[ -z $deb ]]; then
    deb=$("$top/tools/package" | tail -n 1)
fi
deb=$(realpath -e "$deb")
work=$(mktemp -d)
made_root=0
cleanup() {
    rm -rf "$work"
    if ((made_root)) && [[ -d $root ]]; then
        # tools/fresh-debian's mounts lived in its own mount namespace, gone with it.
        rm -rf --one-file-system "$root"
    fi
}
trap cleanup EXIT

# 1. The package's contents and its unit, offline.
dpkg-deb -x "$deb" "$work/tree"
for f in usr/sbin/initwatch lib/systemd/system/initwatch.service etc/default/initwatch usr/share/man/man8/initwatch.8.gz \
    usr/share/doc/initwatch/examples/rules.yaml; do
    [[ -e $work/tree/$f ]] || fail "$deb has no /$f"
done
echo "ok   $(basename "$deb"): binary, unit, /etc/default/initwatch, man page, alert rules"
depends=$(dpkg-deb -f "$deb" Depends)
[[ $depends == *libbpf1* && $depends == *libprometheus-cpp-core1.0* ]] || fail "Depends: $depends"
echo "ok   Depends (from \${shlibs:Depends}): $depends"
# verify checks that ExecStart= exists and that man:initwatch(8) is there: both from the
# package's tree, not the host's.
sed "s|/usr/sbin/initwatch|$work/tree/usr/sbin/initwatch|" "$work/tree/lib/systemd/system/initwatch.service" \
    >"$work/initwatch.service"
if ! out=$(MANPATH=$work/tree/usr/share/man timeout 60 systemd-analyze verify "$work/initwatch.service" 2>&1) ||
    [[ -n $out ]]; then
    fail "systemd-analyze verify: $out"
fi
echo "ok   systemd-analyze verify initwatch.service: no complaint"
timeout 60 systemd-analyze security --offline=true --threshold=25 "$work/tree/lib/systemd/system/initwatch.service" \
    >"$work/security" 2>&1 || { cat "$work/security"; fail "systemd-analyze security: exposure over 2.5 (--threshold counts tenths)"; }
echo "ok   systemd-analyze security --offline=true: $(grep -o 'Overall exposure level.*' "$work/security")"

# 2-4. In a fresh Debian 12.
if [[ -z $root ]]; then
    root=$(mktemp -d /var/tmp/initwatch-pkgtest.XXXXXX)
    chmod 755 "$root"
    made_root=1
fi
start=$SECONDS
"$top/tools/fresh-debian" --root "$root" "$top" HEAD -- true >"$work/bootstrap.log" 2>&1 ||
    { cat "$work/bootstrap.log"; fail "tools/fresh-debian could not make the chroot"; }
say "the chroot $root ready after $((SECONDS - start)) s"
rm -rf "$root/root/pkgtest"
mkdir -p "$root/root/pkgtest"
cp "$deb" "$root/root/pkgtest/"
cp "$0" "$root/root/pkgtest/test_package.sh"
cp "$top/examples/story/2-server-backgrounded.sh" "$root/root/pkgtest/"
exec {lock}>/tmp/initwatch-bpf.lock
waited=$SECONDS
flock -w 900 "$lock" || fail "the BPF lock was not free within 900 s"
say "the BPF lock taken after $((SECONDS - waited)) s"
status=0
"$top/tools/fresh-debian" --root "$root" --timeout 900 "$top" HEAD -- \
    "bash /root/pkgtest/test_package.sh --inside /root/pkgtest/$(basename "$deb") /root/pkgtest/2-server-backgrounded.sh" ||
    status=$?
((status == 0)) || fail "in the fresh Debian 12 chroot (status $status)"
echo "test_package: all checks passed ($SECONDS s)"
