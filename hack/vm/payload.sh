# Default payload of hack/vm-test.sh, run by the guest's init (busybox sh, cwd = repo root)
# on a pure cgroup v2 /sys/fs/cgroup. Needs RT_BIN, RT_LIB_TEST (rt's lib test binary),
# RT_CGROUPS_TEST (tests/oci-validation/tests/cgroups.rs); with RT_FULL_TESTS (a list of
# test executables) runs those instead of the two; RT_CONTAINERD_TEST (tests/integration/
# tests/containerd.rs) for the containerd step. Exit status: number of failed steps.
failed=""
step() {
    name=$1
    shift
    echo "=== vm step $name: $*"
    t0=$(date +%s)
    if "$@"; then
        echo "=== vm step $name: ok ($(($(date +%s) - t0))s)"
    else
        echo "=== vm step $name: FAILED ($(($(date +%s) - t0))s)"
        failed="$failed $name"
    fi
}

# A plain `rt run` of a busybox bundle with memory and pids limits, checked from inside
# the container (its own cgroup's memory.max / pids.max) and in the hierarchy afterwards.
plain_run() {
    b=/tmp/vm-plain
    rm -rf $b
    mkdir -p $b/rootfs/bin $b/rootfs/proc $b/rootfs/sys $b/rootfs/dev $b/rootfs/tmp
    cp /bin/busybox $b/rootfs/bin/busybox
    for a in sh cat echo grep head sleep; do ln -s busybox $b/rootfs/bin/$a; done
    (cd $b && "$RT_BIN" spec) || return 1
    python3 - "$b/config.json" <<'EOF' || return 1
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", """
cg=$(sed -n 's/^0:://p' /proc/self/cgroup)
d=/sys/fs/cgroup$cg
[ -f $d/memory.max ] || d=/sys/fs/cgroup
echo "in-container cgroup=$cg dir=$d"
echo "memory.max=$(cat $d/memory.max) pids.max=$(cat $d/pids.max)"
[ "$(cat $d/memory.max)" = 67108864 ] && [ "$(cat $d/pids.max)" = 32 ]
"""]
c["linux"]["cgroupsPath"] = "/rt-test-vm-plain"
c["linux"].setdefault("resources", {})
c["linux"]["resources"]["memory"] = {"limit": 67108864}
c["linux"]["resources"]["pids"] = {"limit": 32}
json.dump(c, open(p, "w"), indent=1)
EOF
    rc=0
    (cd $b && "$RT_BIN" --root /run/rt-vm run vm-plain) || rc=$?
    echo "rt run exit: $rc"
    if [ -e /sys/fs/cgroup/rt-test-vm-plain ]; then
        echo "leftover cgroup /sys/fs/cgroup/rt-test-vm-plain"
        rc=1
    fi
    rm -rf $b
    return $rc
}

# containerd (the host's, over 9p) through rt's shim: `ctr task metrics` decodes the shim's
# cgroup v2 Metrics, and an OOM kill is reported from memory.events. containerd's overlay
# snapshotter needs an upper directory off the guest's overlay root: a tmpfs as TMPDIR.
containerd_v2() {
    mkdir -p /tmp/ctd && mount -t tmpfs tmpfs /tmp/ctd || return 1
    rc=0
    TMPDIR=/tmp/ctd "$RT_CONTAINERD_TEST" rt_shim_metrics_pause_resume rt_shim_reports_oom \
        --test-threads=1 || rc=$?
    umount -l /tmp/ctd
    return $rc
}

[ -n "${RT_LIB_TEST:-}" ] || { echo "RT_LIB_TEST unset"; exit 1; }
[ -n "${RT_CGROUPS_TEST:-}" ] || { echo "RT_CGROUPS_TEST unset"; exit 1; }
if [ -n "${RT_FULL_TESTS:-}" ]; then
    for t in $RT_FULL_TESTS; do
        n=${t##*/}
        step "${n%-*}" "$t" --test-threads="${RT_TEST_THREADS:-2}"
    done
else
    step unit "$RT_LIB_TEST" cgroups --test-threads=1
    step oci-cgroups "$RT_CGROUPS_TEST" --test-threads=2
fi
step plain-run plain_run
if [ -z "${RT_FULL_TESTS:-}" ]; then
    if [ -n "${RT_CONTAINERD_TEST:-}" ]; then
        step containerd-v2 containerd_v2
    else
        echo "RT_CONTAINERD_TEST unset"
        failed="$failed containerd-v2"
    fi
fi
if [ -n "$failed" ]; then
    echo "=== vm payload: FAILED:$failed"
    exit $(echo $failed | wc -w)
fi
echo "=== vm payload: all passed"
