#!/usr/bin/env bash
# Soak: N create/start/delete cycles of a busybox container with rt, then check that
# nothing grew (leaks of rt's own making).
#
#   hack/soak.sh [N]        N cycles (default 1000; env SOAK_N)
#
# Env: RT_BIN (default: target/.../release/rt, else debug/rt), SOAK_STRICT=1 to also
# fail on growth of the host-wide counts (other users of the machine move those).
#
# Each container runs `echo $(ls /proc/self/fd)` (its stdout is a file): every cycle must
# see the same fds (0, 1, 2 and ls's own directory handle: no fd of rt leaks into it).
# Snapshots before and after all cycles, failing (exit 1) on growth of:
#   rt state dirs under the soak's --root, cgroup dirs named rt-test-soak-<pid>-* in any
#   hierarchy, mounts under the soak's work dir, processes running the rt binary,
#   and the fds those processes hold;
# reported (failing only with SOAK_STRICT=1): host /proc/self/mountinfo lines, host
#   process count, host fd count (ls /proc/*/fd | wc -l).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

N=${1:-${SOAK_N:-1000}}
[[ $N =~ ^[1-9][0-9]*$ ]] || die "N: not a positive number: $N"
[ "$(id -u)" = 0 ] || die "must run as root (real containers)"
ensure_pkgs /bin/busybox:busybox-static jq:jq

rel=$repo/target/x86_64-unknown-linux-gnu/release/rt
dbg=$repo/target/x86_64-unknown-linux-gnu/debug/rt
RT=${RT_BIN:-$([ -x "$rel" ] && echo "$rel" || echo "$dbg")}
[ -x "$RT" ] || die "$RT missing (build rt, or set RT_BIN)"

work=$(mktemp -d /tmp/rt-soak.XXXXXX)
root=$work/state
tag="rt-test-soak-$$"
cleanup() {
    for d in "$root"/*/; do
        [ -d "$d" ] && "$RT" --root "$root" delete -f "$(basename "$d")" >/dev/null 2>&1 || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

make_busybox_rootfs "$work/rootfs"
(cd "$work" && "$RT" spec)
jq --arg root "$work/rootfs" '.root.path = $root | .process.terminal = false
    | .process.args = ["/bin/sh", "-c", "echo $(ls /proc/self/fd)"]' "$work/config.json" >"$work/base.json"

rt_pids() {
    local ino p
    ino=$(stat -L -c %i "$RT")
    for p in /proc/[0-9]*; do
        [ "$(stat -L -c %i "$p/exe" 2>/dev/null)" = "$ino" ] && echo "${p#/proc/}"
    done
    return 0
}

snapshot() {
    local pids fds=0 p
    pids=$(rt_pids)
    for p in $pids; do
        fds=$((fds + $(ls "/proc/$p/fd" 2>/dev/null | wc -l)))
    done
    echo "state_dirs=$(find "$root" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    echo "cgroup_dirs=$(find /sys/fs/cgroup -maxdepth 3 -name "$tag-*" 2>/dev/null | wc -l)"
    echo "soak_mounts=$(grep -c " $work" /proc/self/mountinfo || true)"
    echo "rt_processes=$(echo -n "$pids" | grep -c . || true)"
    echo "rt_fds=$fds"
    echo "host_mountinfo_lines=$(wc -l </proc/self/mountinfo)"
    echo "host_processes=$(ls -d /proc/[0-9]* | wc -l)"
    echo "host_fds=$(ls /proc/*/fd 2>/dev/null | wc -l)"
}

mkdir -p "$root"
declare -A before after
while IFS== read -r k v; do before[$k]=$v; done < <(snapshot)

note "$N cycles with $RT"
out=$work/fds.txt
start=$EPOCHREALTIME
for ((i = 1; i <= N; i++)); do
    id="soak-$$-$i"
    jq --arg cg "/$tag-$i" '.linux.cgroupsPath = $cg' "$work/base.json" >"$work/config.json"
    "$RT" --root "$root" create --bundle "$work" "$id" >>"$out" 2>"$work/err" ||
        die "cycle $i: create failed: $(cat "$work/err")"
    "$RT" --root "$root" start "$id" 2>"$work/err" || die "cycle $i: start failed: $(cat "$work/err")"
    for ((t = 0; t < 500; t++)); do
        [ "$("$RT" --root "$root" state "$id" | jq -r .status)" = stopped ] && break
        sleep 0.01
    done
    "$RT" --root "$root" delete "$id" 2>"$work/err" || die "cycle $i: delete failed: $(cat "$work/err")"
    if ((i % 100 == 0)); then note "$i cycles"; fi
done
secs=$(echo "$EPOCHREALTIME - $start" | bc)
while IFS== read -r k v; do after[$k]=$v; done < <(snapshot)

# Every container saw the same fd list: the first one's.
lists=$(sort "$out" | uniq -c)
nlists=$(echo "$lists" | wc -l)

fail=0
printf '%-22s %10s %10s\n' what before after
for k in state_dirs cgroup_dirs soak_mounts rt_processes rt_fds host_mountinfo_lines host_processes host_fds; do
    printf '%-22s %10s %10s\n' "$k" "${before[$k]}" "${after[$k]}"
    if [ "${after[$k]}" -gt "${before[$k]}" ]; then
        case $k in
        host_*) [ "${SOAK_STRICT:-0}" = 1 ] && fail=1 ;;
        *) fail=1 ;;
        esac
    fi
done
echo "cycles=$N seconds=$secs fd lists seen in containers: $nlists"
echo "$lists"
[ "$nlists" = 1 ] || { note "containers saw different fds"; fail=1; }
[ "$fail" = 0 ] || die "growth after $N cycles (see above)"
note "ok: no growth after $N cycles"
