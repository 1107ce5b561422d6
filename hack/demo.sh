#!/usr/bin/env bash
# Demo: build rt, make a busybox bundle, run a container that shows its hostname, that
# it is pid 1 and its mounts, then show that nothing is left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

[ "$(id -u)" = 0 ] || { echo "hack/demo.sh: must run as root" >&2; exit 1; }
# A fresh machine: install busybox-static, libseccomp-dev and jq, build rt.
bash hack/setup.sh --demo

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

RT=${RT_BIN:-$PWD/target/x86_64-unknown-linux-gnu/debug/rt}
ROOT=/run/rt-demo
BUNDLE=$PWD/hack/.cache/demo-bundle
ID=rt-demo-$$
CGROUP=/rt-demo-$$

say "making a busybox bundle in ${BUNDLE#"$PWD"/}"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/rootfs"/{bin,etc,proc,sys,dev,tmp,root}
cp /bin/busybox "$BUNDLE/rootfs/bin/"
for applet in $(/bin/busybox --list); do
    [ -e "$BUNDLE/rootfs/bin/$applet" ] || ln -s busybox "$BUNDLE/rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$BUNDLE/rootfs/etc/passwd"
echo 'root:x:0:' >"$BUNDLE/rootfs/etc/group"

if ! "$RT" spec --bundle "$BUNDLE" 2>/dev/null || [ ! -s "$BUNDLE/config.json" ]; then
    # rt spec not available: start from runc's default spec.
    echo "(rt spec not available: writing runc's default config)"
    cat >"$BUNDLE/config.json" <<'JSON'
{"ociVersion":"1.0.2-dev",
 "process":{"terminal":true,"user":{"uid":0,"gid":0},"args":["sh"],
  "env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","TERM=xterm"],
  "cwd":"/",
  "capabilities":{"bounding":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
   "effective":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
   "permitted":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"],
   "ambient":["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"]},
  "rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}],"noNewPrivileges":true},
 "root":{"path":"rootfs","readonly":true},
 "hostname":"runc",
 "mounts":[
  {"destination":"/proc","type":"proc","source":"proc"},
  {"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]},
  {"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]},
  {"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]},
  {"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]},
  {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
  {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}],
 "linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},
  "namespaces":[{"type":"pid"},{"type":"network"},{"type":"ipc"},{"type":"uts"},{"type":"mount"}],
  "maskedPaths":["/proc/acpi","/proc/asound","/proc/kcore","/proc/keys","/proc/latency_stats","/proc/timer_list","/proc/timer_stats","/proc/sched_debug","/sys/firmware","/proc/scsi"],
  "readonlyPaths":["/proc/bus","/proc/fs","/proc/irq","/proc/sys","/proc/sysrq-trigger"]}}
JSON
fi
SCRIPT='echo "hostname: $(hostname)"; echo "pid $$"; echo "--- ps"; ps; echo "--- /proc/mounts"; cat /proc/mounts'
jq --arg s "$SCRIPT" --arg cg "$CGROUP" \
    '.process.terminal = false | .process.args = ["/bin/sh", "-c", $s] | .hostname = "rt-demo"
     | .linux.cgroupsPath = $cg' \
    "$BUNDLE/config.json" >"$BUNDLE/config.json.new"
mv "$BUNDLE/config.json.new" "$BUNDLE/config.json"
jq -c '{hostname, args: .process.args[0:2], namespaces: [.linux.namespaces[].type], cgroupsPath: .linux.cgroupsPath}' "$BUNDLE/config.json"

say "rt --root $ROOT run --bundle ${BUNDLE#"$PWD"/} $ID"
set +e
"$RT" --root "$ROOT" run --bundle "$BUNDLE" "$ID"
rc=$?
set -e
echo "(exit status $rc)"

say "what is left"
leftover=0
echo "rt list:"
"$RT" --root "$ROOT" list || true
if [ -e "$ROOT/$ID" ]; then echo "LEFT: state dir $ROOT/$ID"; leftover=1; fi
if grep -F "$BUNDLE" /proc/self/mountinfo; then echo "LEFT: mounts above"; leftover=1; fi
for d in /sys/fs/cgroup/*/"${CGROUP#/}"; do
    if [ -e "$d" ]; then echo "LEFT: cgroup $d"; leftover=1; fi
done
for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null || true)
    case "$r" in "$BUNDLE"/*) echo "LEFT: process ${p#/proc/} in the bundle"; leftover=1 ;; esac
done
if [ "$leftover" = 0 ]; then
    echo "nothing: no state, no mounts, no cgroups, no processes"
fi
[ "$rc" = 0 ] && [ "$leftover" = 0 ]
