#!/usr/bin/env bash
# A/B of rt builds: create + start + delete of /bin/true, the binaries interleaved
# iteration by iteration (in alternating order), so that a change of load on the machine
# hits each alike. For
# "did this change make rt slower?" (hack/bench.sh compares rt with runc and crun).
#
#   hack/bench-ab.sh [-n N] BIN_A BIN_B [BIN...]
#
# Each container gets its own linux.cgroupsPath (as in hack/bench.sh), so every cycle makes
# and removes a cgroup. Prints, per binary: mean, median, p25, p75 (ms) and the ratio of its
# mean and median to the first binary's, then the median of each command alone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

N=100
if [ "${1:-}" = "-n" ]; then
    N=${2:?-n wants a number}
    shift 2
fi
[[ $N =~ ^[1-9][0-9]*$ ]] || die "-n: not a positive number: $N"
[ $# -ge 2 ] || die "usage: hack/bench-ab.sh [-n N] BIN_A BIN_B [BIN...]"
for b in "$@"; do
    [ -x "$b" ] || die "$b: not an executable"
done
[ "$(id -u)" = 0 ] || die "run as root (real containers)"
ensure_pkgs /bin/busybox:busybox-static jq:jq

work=$(mktemp -d /tmp/rt-bench-ab.XXXXXX)
tag=rt-bench-ab-$$
cleanup() {
    set +e
    for i in "${!bins[@]}"; do
        for id in $("${bins[$i]}" --root "$work/state$i" list -q 2>/dev/null); do
            "${bins[$i]}" --root "$work/state$i" delete --force "$id" >/dev/null 2>&1
        done
    done
    for d in /sys/fs/cgroup/*/"$tag"-* /sys/fs/cgroup/"$tag"-*; do
        [ -d "$d" ] && rmdir "$d" 2>/dev/null
    done
    rm -rf "$work"
}
bins=("$@")
trap cleanup EXIT
trap 'exit 130' INT TERM

make_busybox_rootfs "$work/rootfs"
(cd "$work" && "${bins[0]}" spec) || die "rt spec failed"
jq --arg root "$work/rootfs" \
    '.process.terminal = false | .process.args = ["/bin/true"] | .root.path = $root' \
    "$work/config.json" >"$work/base.json" || die "jq failed on rt spec's config.json"
mkdir -p "$work/b"

# cycle I BIN_INDEX: one create + start + delete, prints the milliseconds: in all, then
# of create, start and delete
cycle() {
    local i=$1 k=$2 bin=${bins[$2]} root="$work/state$2" id="ab$2-$1"
    jq --arg cg "/$tag-$k-$i" '.linux.cgroupsPath = $cg' "$work/base.json" >"$work/b/config.json"
    local s=$EPOCHREALTIME
    "$bin" --root "$root" create --bundle "$work/b" "$id" >/dev/null 2>"$work/err" ||
        die "$bin create: $(cat "$work/err")"
    local c=$EPOCHREALTIME
    "$bin" --root "$root" start "$id" 2>"$work/err" || die "$bin start: $(cat "$work/err")"
    local t=$EPOCHREALTIME
    "$bin" --root "$root" delete -f "$id" 2>"$work/err" || die "$bin delete: $(cat "$work/err")"
    local e=$EPOCHREALTIME
    echo "$k $(echo "($e - $s) * 1000; ($c - $s) * 1000; ($t - $c) * 1000; ($e - $t) * 1000" | bc | paste -sd' ')"
}

for i in 1 2 3; do # warm-up
    for k in "${!bins[@]}"; do cycle "w$i" "$k" >/dev/null; done
done
# The order alternates (A B, then B A): a cycle's position in the round (what ran just
# before it) must not favour one binary.
order=("${!bins[@]}")
reversed=()
for ((k = ${#bins[@]} - 1; k >= 0; k--)); do reversed+=("$k"); done
for i in $(seq 1 "$N"); do
    if ((i % 2)); then ks=("${order[@]}"); else ks=("${reversed[@]}"); fi
    for k in "${ks[@]}"; do cycle "$i" "$k"; done
done >"$work/times"

echo "bench-ab.sh: create+start+delete of /bin/true, $N interleaved cycles each, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %9s %9s %9s %9s %8s %8s %8s %8s %8s  %s\n' bin mean median p25 p75 mean/A med/A \
    create start delete path
labels=(A B C D E F G H)
base_mean="" base_med=""
# median of column COL for binary K
median() {
    awk -v k="$1" -v c="$2" '$1 == k {print $c}' "$work/times" | sort -n |
        awk '{a[NR]=$1} END {printf "%.2f\n", a[int(NR/2)+1]}'
}
for k in "${!bins[@]}"; do
    read -r mean med p25 p75 < <(awk -v k="$k" '$1 == k {print $2}' "$work/times" | sort -n |
        awk '{a[NR]=$1; s+=$1} END {printf "%.2f %.2f %.2f %.2f\n", s/NR, a[int(NR/2)+1], a[int(NR/4)+1], a[int(3*NR/4)+1]}')
    [ -z "$base_mean" ] && base_mean=$mean base_med=$med
    printf '%-8s %9s %9s %9s %9s %8.3f %8.3f %8s %8s %8s  %s\n' "${labels[$k]}" \
        "$mean" "$med" "$p25" "$p75" "$(echo "$mean / $base_mean" | bc -l)" \
        "$(echo "$med / $base_med" | bc -l)" "$(median "$k" 3)" "$(median "$k" 4)" \
        "$(median "$k" 5)" "${bins[$k]}"
done
echo "(create, start, delete: medians of each command, ms)"
