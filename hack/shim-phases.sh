#!/usr/bin/env bash
# Where the time of one `ctr run --rm IMAGE ID /bin/true` through rt's shim goes, per phase:
#
#   hack/shim-phases.sh [-n N] [--base SHIM] [--no-build]
#
# Runs N `ctr run --rm` (after 2 warm-ups) through rt's shim (release build) and, with
# --base, alternating with another containerd-shim-rt-v2 binary (say last commit's, as the
# runtime io.containerd.rtbase.v2 with the same rt), then prints each phase's median and
# mean in ms: containerd -> shim `start` exec -> its exit -> first ttrpc client -> `rt create`
# exec/exit -> TaskCreate -> `rt start` -> TaskStart -> the container's exit -> TaskExit ->
# `rt delete` -> TaskDelete -> Shutdown -> the `delete` action -> containerd's cleanup.
# Sources: a private containerd at debug level (its log has containerd's and the shim's
# timestamps) and a private ftrace instance (every exec, exit and SIGCHLD), mounted in a
# private mount namespace and removed at the end; its clock is tied to the log's by markers.
# For looking, not asserting; the machine's load average is printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

N=20
BASE=
BUILD=1
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=${2:?-n needs a number}; shift 2 ;;
    --base) BASE=${2:?--base needs a shim binary}; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || die "-n: not a positive number: $N"
[ "$(id -u)" = 0 ] || die "must run as root (real containers, ftrace)"
[ -z "$BASE" ] || [ -x "$BASE" ] || die "--base: $BASE is not an executable"
command -v python3 >/dev/null || die "python3 is needed for the report"
bash "$here/containerd-setup.sh" >/dev/null
ensure_pkgs /bin/busybox:busybox-static
rel=$repo/target/x86_64-unknown-linux-gnu/release
if [ "$BUILD" = 1 ]; then
    note "building rt and containerd-shim-rt-v2 (release)"
    (cd "$repo" && cargo build --release -p rt -p containerd-shim-rt-v2 >&2) ||
        die "cargo build --release failed"
fi
[ -x "$rel/containerd-shim-rt-v2" ] && [ -x "$rel/rt" ] || die "release rt or shim missing"

work=$(mktemp -d /tmp/rt-shim-phases.XXXXXX)
state=/run/rt-shim-phases-$$
ns=phases$$
sock=$state/c.sock
tfs=$work/tracefs
inst=shim-phases-$$
ctd_pid=
ctr_() { ctr -a "$sock" -n "$ns" "$@"; }
# tracefs is mounted only inside these private mount namespaces; the instance outlives them.
trace() { unshare -m --propagation private sh -c "mount -t tracefs none '$tfs' && cd '$tfs/instances' && $1"; }

cleanup() {
    set +e
    trace "[ -d $inst ] && echo 0 > $inst/tracing_on && rmdir $inst" 2>/dev/null
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
    for d in /sys/fs/cgroup/*/"$ns" /run/containerd/rt/"$ns"; do rmdir "$d" 2>/dev/null; done
    rm -rf "$work" "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The shims under test, each with rt beside it (the shim runs the rt next to itself).
mkdir -p "$work/bin" "$tfs"
cp "$rel/containerd-shim-rt-v2" "$rel/rt" "$work/bin/"
RUNTIMES=(rt)
if [ -n "$BASE" ]; then
    cp "$BASE" "$work/bin/containerd-shim-rtbase-v2"
    RUNTIMES=(base rt)
fi
declare -A RUNTIME=([rt]=io.containerd.rt.v2 [base]=io.containerd.rtbase.v2)

IMAGE=docker.io/rt-test/busybox:phases
busybox_oci_archive "$work" "$IMAGE" phases

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
[debug]
  level = "debug"
EOF
PATH="$work/bin:$PATH" containerd --config "$work/config.toml" >"$work/containerd.log" 2>&1 &
ctd_pid=$!
for _ in $(seq 100); do ctr_ version >/dev/null 2>&1 && break; sleep 0.1; done
ctr_ version >/dev/null 2>&1 || { cat "$work/containerd.log" >&2; die "containerd did not start"; }
ctr_ images import "$work/image.tar" >/dev/null || die "image import failed"

# Markers tie the trace clock to the wall clock: written right after reading it.
mark="python3 -c 'import os,sys,time
fd=os.open(\"$inst/trace_marker\",os.O_WRONLY)
for _ in range(50):
    t=time.time_ns(); os.write(fd,b\"EPOCH %d\\n\"%(t//1000))
    if time.time_ns()-t<20000: break'"
events="sched/sched_process_exec sched/sched_process_exit sched/sched_process_fork signal/signal_generate"
trace "mkdir $inst && echo 4096 > $inst/buffer_size_kb && echo 'sig==17' > $inst/events/signal/signal_generate/filter &&
    for e in $events; do echo 1 > $inst/events/\$e/enable; done && echo 1 > $inst/tracing_on && $mark" ||
    die "cannot set up the ftrace instance"

note "ctr run --rm /bin/true: 2 warm-ups and $N measured for ${RUNTIMES[*]}; load $(cut -d' ' -f1-3 /proc/loadavg)"
now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }
for ((i = 0; i < N + 2; i++)); do
    for ((j = 0; j < ${#RUNTIMES[@]}; j++)); do
        r=${RUNTIMES[$(((i + j) % ${#RUNTIMES[@]}))]}
        echo "$r $i begin $(now_us)" >>"$work/marks"
        ctr_ run --rm --runtime "${RUNTIME[$r]}" "$IMAGE" "p-$r-$i" /bin/true >/dev/null ||
            die "$r: ctr run --rm failed"
        echo "$r $i end $(now_us)" >>"$work/marks"
    done
done
trace "$mark && echo 0 > $inst/tracing_on && cat $inst/trace" >"$work/trace"
trace "rmdir $inst"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/lib/shim_phases.py" "$work/containerd.log" "$work/marks" "$work/trace" 2 "${RUNTIMES[@]}"
