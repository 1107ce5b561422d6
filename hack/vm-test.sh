#!/usr/bin/env bash
# cgroup v2 test lane: runs a command in an emulated QEMU guest whose /sys/fs/cgroup is a
# pure cgroup2 hierarchy (every controller enabled), with the host's / as its root (9p,
# read-only, under a tmpfs overlay), so the already built host binaries run unchanged.
#
#   hack/vm-test.sh                 default payload (hack/vm/payload.sh): rt's cgroup unit
#                                   tests, tests/oci-validation/tests/cgroups.rs, a plain
#                                   `rt run` with memory/pids limits checked from inside, and
#                                   containerd through rt's shim (v2 Metrics, v2 OOM event)
#   hack/vm-test.sh -- CMD ARGS...  run CMD in the guest (cwd: the repository root)
#   hack/vm-test.sh --full          every test binary of the workspace (cargo test
#                                   --workspace --no-run), plus the plain `rt run` (slow)
#   hack/vm-test.sh --no-build ...  do not run cargo; use the newest built test binaries
#
# Exits with the guest command's exit status; 125 if the VM could not be set up or gave no
# result (missing package, kernel download, boot failure, timeout). Environment:
#   VM_TIMEOUT   seconds one boot may take (default 600; --full: 1800)
#   VM_MEM VM_SMP  guest memory / cpus (default 2G / 2)
#   VM_LOG       where the serial console log goes (default hack/.cache/vm-last.log)
# Docs: docs/testing-v2.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

die() {
    echo "hack/vm-test.sh: $*" >&2
    exit 125
}

build=1
full=0
cmd=()
while [ $# -gt 0 ]; do
    case "$1" in
    --no-build) build=0 ;;
    --full) full=1 ;;
    --) shift; cmd=("$@"); break ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

CACHE=$REPO/hack/.cache
mkdir -p "$CACHE"
LOG=${VM_LOG:-$CACHE/vm-last.log}
TIMEOUT=${VM_TIMEOUT:-$([ $full = 1 ] && echo 1800 || echo 600)}

# --- host packages -------------------------------------------------------------------
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
[ -x /bin/busybox ] && /bin/busybox --list 2>/dev/null | grep -qx switch_root || need_pkgs+=(busybox-static)
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v python3 >/dev/null || need_pkgs+=(python3)
if [ ${#need_pkgs[@]} -gt 0 ]; then
    echo "hack/vm-test.sh: installing ${need_pkgs[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >&2 ||
        die "apt-get install ${need_pkgs[*]} failed"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing after install"
file /bin/busybox 2>/dev/null | grep -q 'statically linked' ||
    ldd /bin/busybox 2>&1 | grep -q 'not a dynamic' || die "/bin/busybox is not static (busybox-static)"

# --- kernel (Debian's generic amd64 kernel, extracted into the cache, never installed) ---
KPKG=$(ls -d "$CACHE"/kernel-*/ 2>/dev/null | head -1 || true)
if [ -z "$KPKG" ]; then
    kdep=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
    [ -n "$kdep" ] || die "apt-cache: cannot resolve linux-image-amd64 (apt-get update?)"
    tmp=$(mktemp -d "$CACHE/dl.XXXXXX")
    (cd "$tmp" && apt-get download "$kdep" >&2) || { rm -rf "$tmp"; die "apt-get download $kdep failed"; }
    dpkg -x "$tmp"/*.deb "$tmp/x" || { rm -rf "$tmp"; die "dpkg -x $kdep failed"; }
    rm -f "$tmp"/*.deb
    KPKG=$CACHE/kernel-${kdep#linux-image-}
    rm -rf "$KPKG"
    mv "$tmp/x" "$KPKG"
    rm -rf "$tmp"
fi
KPKG=${KPKG%/}
VMLINUZ=$(ls "$KPKG"/boot/vmlinuz-* 2>/dev/null | head -1)
[ -n "$VMLINUZ" ] || die "no vmlinuz in $KPKG/boot (remove $KPKG to re-fetch)"
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR=$KPKG/lib/modules/$KVER
[ -d "$MODDIR" ] || die "no $MODDIR"

# Modules the guest needs, with their dependencies (from each .ko's modinfo "depends="),
# in load order. Built-in ones (modules.builtin) need nothing.
declare -A KO=() SEEN=()
while IFS= read -r f; do
    b=${f##*/}
    b=${b%%.ko*}
    KO[${b//-/_}]=$f
done < <(find "$MODDIR/kernel" -name '*.ko*')
ORDER=()
ko_text() { case "$1" in *.xz) xz -dc "$1" ;; *.zst) zstd -dc "$1" ;; *) cat "$1" ;; esac; }
add_mod() {
    local m=${1//-/_} f d
    [ -z "${SEEN[$m]:-}" ] || return 0
    SEEN[$m]=1
    f=${KO[$m]:-}
    if [ -z "$f" ]; then
        grep -Eq "/${m//_/[-_]}\.ko" "$MODDIR/modules.builtin" && return 0
        die "kernel module $m: not in $MODDIR"
    fi
    d=$(ko_text "$f" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1)
    for dep in ${d//,/ }; do add_mod "$dep"; done
    ORDER+=("$m")
}
# virtio_blk + bfq: a scratch disk (/dev/vda, BFQ scheduler) so blkio/io limits and
# per-device weights are written for a real device's major:minor.
for m in virtio_pci 9pnet_virtio 9p overlay virtio_blk bfq; do add_mod "$m"; done

# --- what to run ---------------------------------------------------------------------
test_exes() { # cargo test args... -> paths of the test executables
    cargo test "$@" --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for l in sys.stdin:
    try:
        m = json.loads(l)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"])
'
}
test_exe() { test_exes "$@" | tail -1; }
newest() { ls -t "$@" 2>/dev/null | head -1; }
DEPS=$REPO/target/x86_64-unknown-linux-gnu/debug/deps
payload_env=""
if [ ${#cmd[@]} -eq 0 ]; then
    if [ $build = 1 ]; then
        cargo build -p rt -p oci-validation -p containerd-shim-rt-v2 >&2 || die "cargo build failed"
        lib=$(test_exe -p rt --lib) || true
        cg=$(test_exe -p oci-validation --test cgroups) || true
        ctd=$(test_exe -p integration --test containerd) || true
    else
        lib=""
        for f in $(ls -t "$DEPS"/rt-????????????????); do
            "$f" --list 2>/dev/null | grep -q '^cgroups::' && { lib=$f; break; }
        done
        cg=$(newest "$DEPS"/cgroups-????????????????)
        ctd=$(newest "$DEPS"/containerd-????????????????)
    fi
    [ -n "${ctd:-}" ] && [ -x "$ctd" ] || die "no containerd test binary (cargo test -p integration --test containerd --no-run)"
    [ -n "${lib:-}" ] && [ -x "$lib" ] || die "no rt lib test binary (cargo test -p rt --lib --no-run)"
    [ -n "${cg:-}" ] && [ -x "$cg" ] || die "no cgroups test binary (cargo test -p oci-validation --test cgroups --no-run)"
    for b in rt rt-probe; do
        [ -x "$REPO/target/x86_64-unknown-linux-gnu/debug/$b" ] || die "target/.../debug/$b missing (cargo build)"
    done
    payload_env="export RT_LIB_TEST='$lib' RT_CGROUPS_TEST='$cg' RT_CONTAINERD_TEST='$ctd'"
    if [ $full = 1 ]; then
        [ $build = 1 ] || die "--full needs the build (no --no-build)"
        all=$(test_exes --workspace | tr '\n' ' ')
        [ -n "$all" ] || die "cargo test --workspace --no-run gave no executables"
        payload_env="$payload_env RT_FULL_TESTS='$all'"
    fi
    cmd=(sh hack/vm/payload.sh)
fi

# --- initramfs -----------------------------------------------------------------------
IRD=$(mktemp -d "$CACHE/initramfs.XXXXXX")
trap 'rm -rf "$IRD"' EXIT
mkdir -p "$IRD"/{bin,vm/lib,proc,sys,dev}
cp /bin/busybox "$IRD/bin/busybox"
cp hack/vm/init "$IRD/init"
chmod 755 "$IRD/init"
: >"$IRD/vm/modules"
for m in "${ORDER[@]}"; do
    ko_text "${KO[$m]}" >"$IRD/vm/lib/$m.ko"
    echo "$m.ko" >>"$IRD/vm/modules"
done
echo "$REPO" >"$IRD/vm/cwd"
{
    echo "export RT_BIN='$REPO/target/x86_64-unknown-linux-gnu/debug/rt'"
    echo "export RT_PROBE_BIN='$REPO/target/x86_64-unknown-linux-gnu/debug/rt-probe'"
    echo "export RUST_BACKTRACE=1"
    [ -z "$payload_env" ] || echo "$payload_env"
    printf '%q ' "${cmd[@]}"
    echo
} >"$IRD/vm/cmd"
(cd "$IRD" && find . | cpio -o -H newc --quiet) >"$IRD.cpio" || die "cpio failed"
# An empty 16 MiB scratch disk (sparse; nothing is written to it): /dev/vda in the guest.
truncate -s 16M "$IRD.disk" || die "truncate $IRD.disk failed"
trap 'rm -rf "$IRD" "$IRD.cpio" "$IRD.disk"' EXIT

# --- boot ----------------------------------------------------------------------------
echo "hack/vm-test.sh: booting $KVER (TCG, timeout ${TIMEOUT}s), modules: ${ORDER[*]}" >&2
echo "hack/vm-test.sh: guest runs: ${cmd[*]}" >&2
start=$(date +%s)
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -accel tcg -machine pc -cpu max \
    -m "${VM_MEM:-2G}" -smp "${VM_SMP:-2}" -nographic -no-reboot \
    -kernel "$VMLINUZ" -initrd "$IRD.cpio" \
    -append "console=ttyS0 rdinit=/init panic=-1 cgroup_no_v1=all quiet loglevel=4" \
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
    -drive file="$IRD.disk",format=raw,if=virtio,cache=unsafe \
    </dev/null 2>&1 | tr -d '\r' | tee "$LOG"
qrc=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))
result=$(grep -a -o 'VM-TEST-RESULT: rc=[0-9]*' "$LOG" | tail -1 || true)
if [ -z "$result" ]; then
    [ "$qrc" = 124 ] && die "no result: the VM timed out after ${TIMEOUT}s (log: $LOG)"
    die "no result from the VM (qemu exit $qrc; log: $LOG)"
fi
rc=${result##*rc=}
echo "hack/vm-test.sh: guest command exited $rc after ${secs}s (log: $LOG)" >&2
[ "$rc" != 254 ] || die "guest setup failed: $(grep -a 'VM-TEST-RESULT' "$LOG" | tail -1)"
exit "$rc"
