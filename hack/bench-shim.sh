#!/usr/bin/env bash
# containerd through rt's shim beside containerd's runc shim with runc, in one run:
#
#   hack/bench-shim.sh [-n N] [--no-build]      (hack/bench.sh runs it at its end)
#
#   ctr_run_rm     wall time of `ctr run --rm IMAGE ID /bin/true`: rt's shim
#                  (--runtime io.containerd.rt.v2, which runs rt) against the runc shim with
#                  runc (the default runtime); alternating, N measured after 3 warm-ups;
#                  mean and (ctr_run_rm_median, less moved by other jobs' load spikes) median
#   shim_rss       10 sleeping containers each way: the sum of the shims' VmRSS / 10, KiB
#                  per container
# A private containerd (own root, state, sockets; CRI plugin off) with a busybox OCI image
# built here and imported; nothing is pulled. Nothing asserts on time: the script reports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

N=${BENCH_N:-20}
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=${2:?-n needs a number}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || die "-n: not a positive number: $N"
[ "$(id -u)" = 0 ] || die "must run as root (real containers)"
bash "$here/containerd-setup.sh" >/dev/null
ensure_pkgs runc:runc /bin/busybox:busybox-static

rel=$repo/target/x86_64-unknown-linux-gnu/release
if [ "$BUILD" = 1 ]; then
    note "building rt and containerd-shim-rt-v2 (release)"
    (cd "$repo" && cargo build --release -p rt -p containerd-shim-rt-v2 >&2) ||
        die "cargo build --release failed"
fi
SHIM=${RT_SHIM_BIN:-$rel/containerd-shim-rt-v2}
[ -x "$SHIM" ] || die "$SHIM missing (build it, or set RT_SHIM_BIN)"
[ -x "$(dirname "$SHIM")/rt" ] || die "rt missing beside $SHIM"
RUNC=$(command -v runc)

work=$(mktemp -d /tmp/rt-bench-shim.XXXXXX)
state=/run/rt-bench-shim-$$
ns=bench$$
sock=$state/c.sock
ctd_pid=
ctr_() { ctr -a "$sock" -n "$ns" "$@"; }

cleanup() {
    set +e
    if [ -n "$ctd_pid" ]; then
        for id in $(ctr_ task ls -q 2>/dev/null); do
            ctr_ task kill -s KILL "$id" >/dev/null 2>&1
            ctr_ task rm -f "$id" >/dev/null 2>&1
        done
        for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1; done
        kill "$ctd_pid" 2>/dev/null
        wait "$ctd_pid" 2>/dev/null
    fi
    grep -o " $state[^ ]*\| $work[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    for d in /sys/fs/cgroup/*/"$ns" /run/containerd/rt/"$ns" /run/containerd/runc/"$ns"; do
        rmdir "$d" 2>/dev/null
    done
    rm -rf "$work" "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- a busybox OCI image layout tar ---
IMAGE=docker.io/rt-test/busybox:bench
busybox_oci_archive "$work" "$IMAGE" bench

# --- a private containerd ---
mkdir -p "$state"
cat >"$work/config.toml" <<EOF
version = 2
root = "$work/root"
state = "$state/s"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
EOF
PATH="$(dirname "$SHIM"):$PATH" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
ctr_ version >/dev/null 2>&1 || { cat "$work/containerd.log" >&2; die "containerd did not start"; }
ctr_ images import "$work/image.tar" >/dev/null || die "image import failed"

now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
declare -A ARGS=([rt]="--runtime io.containerd.rt.v2" [runc]="--runc-binary $RUNC")
declare -A SAMPLES
# shellcheck disable=SC2086
one() { # RUNTIME ID
    ctr_ run --rm ${ARGS[$1]} "$IMAGE" "$2" /bin/true >/dev/null 2>"$work/err" ||
        { cat "$work/err" >&2; die "$1: ctr run --rm failed"; }
}

note "ctr run --rm /bin/true: 3 warm-ups and $N measured, alternating"
for ((i = 0; i < N + 3; i++)); do
    if ((i % 2)); then order=(runc rt); else order=(rt runc); fi
    for r in "${order[@]}"; do
        t0=$(now_us)
        one "$r" "b-$r-$i"
        t1=$(now_us)
        ((i >= 3)) && SAMPLES[$r]+="$((t1 - t0)) "
    done
done

note "shim RSS: 10 sleeping containers each way"
shim_rss() { # NAME-PATTERN -> total VmRSS KiB of this containerd's shims
    local total=0 p rss
    for p in $(pgrep -f "$1 .*-address $sock"); do
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        total=$((total + ${rss:-0}))
    done
    echo "$total"
}
declare -A RSS
for r in rt runc; do
    for i in $(seq 10); do
        # shellcheck disable=SC2086
        ctr_ run -d ${ARGS[$r]} "$IMAGE" "s-$r-$i" sleep 1000 >/dev/null || die "$r: ctr run -d failed"
    done
done
sleep 1
RSS[rt]=$(shim_rss containerd-shim-rt-v2)
RSS[runc]=$(shim_rss containerd-shim-runc-v2)
for id in $(ctr_ task ls -q); do ctr_ task kill -s KILL "$id" >/dev/null 2>&1; done
sleep 1
for id in $(ctr_ task ls -q); do ctr_ task rm "$id" >/dev/null 2>&1; done
for id in $(ctr_ containers ls -q); do ctr_ containers rm "$id" >/dev/null; done

mean() { tr ' ' '\n' <<<"$1" | awk 'NF { s += $1; n++ } END { printf "%.2f", n ? s / n / 1000 : 0 }'; }
median() { tr ' ' '\n' <<<"$1" | awk 'NF' | sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.2f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / 1000; else print 0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
a=$(mean "${SAMPLES[rt]}")
b=$(mean "${SAMPLES[runc]}")
am=$(median "${SAMPLES[rt]}")
bm=$(median "${SAMPLES[runc]}")
ra=$(awk -v x="${RSS[rt]}" 'BEGIN { printf "%.0f", x / 10 }')
rb=$(awk -v x="${RSS[runc]}" 'BEGIN { printf "%.0f", x / 10 }')
echo
echo "containerd: $(containerd --version | cut -d' ' -f3); rt shim: $SHIM ($(($(stat -c %s "$SHIM") / 1024)) KiB)"
printf '%-26s %12s %12s %8s\n' "" "rt shim+rt" "runc shim+runc" "rt/runc"
printf '%-26s %12s %12s %8s\n' "ctr run --rm /bin/true ms" "$a" "$b" "$(ratio "$a" "$b")"
printf '%-26s %12s %12s %8s\n' "  median of the runs ms" "$am" "$bm" "$(ratio "$am" "$bm")"
printf '%-26s %12s %12s %8s\n' "shim RSS per container KiB" "$ra" "$rb" "$(ratio "$ra" "$rb")"
echo "ratio ctr_run_rm rt/runc = $(ratio "$a" "$b")"
echo "ratio ctr_run_rm_median rt/runc = $(ratio "$am" "$bm")"
echo "ratio shim_rss rt/runc = $(ratio "$ra" "$rb")"
