#!/usr/bin/env bash
# Builds Dockerfile.test and runs the image: rt's test suite inside a container.
#   hack/dockerfile-test.sh [CMD...]   CMD replaces the image's command (hack/image-test.sh)
#
#  1. a Debian bookworm base made here: `debootstrap --variant=minbase` from the mirror apt
#     uses, with the build dependencies included, imported with `docker import` (cached as
#     target/dockerfile-test/bookworm.tar; nothing is pulled);
#  2. the build context's extras under target/dockerfile-test/: the host's Rust toolchain
#     (hard links to `rustc --print sysroot`: bin/ and lib/) and `cargo vendor` output,
#     so the build runs with --network none;
#  3. a private dockerd (own data/exec root, socket, cgroup parent, no bridge, no iptables)
#     whose default runtime is rt: every RUN step of the build runs in an rt container;
#  4. `docker run` of the image as root with all capabilities root has, no seccomp, no
#     masked /proc paths, every device (and /dev/kmsg, which unit tests open) and the
#     host's cgroup hierarchies.
# The dockerd and everything it made are removed at exit. Not part of hack/test.sh (CI):
# the first run takes minutes (debootstrap, a cold build of the workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/common.sh
[ "$(id -u)" = 0 ] || die "must run as root"
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

bash hack/docker-setup.sh >/dev/null
ensure_pkgs debootstrap:debootstrap
cargo build -p rt
rt=$PWD/target/x86_64-unknown-linux-gnu/debug/rt
work=$PWD/target/dockerfile-test
mkdir -p "$work"

# 1. The base: debootstrap from the mirror apt uses.
mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Codename: bookworm' 2>/dev/null \
    | grep -m1 '/debian/$' || true)
mirror=${mirror:-http://deb.debian.org/debian/}
# (protobuf-compiler, libprotobuf-dev: the k8s-cri crate's build script runs protoc.) A
# cached base made with another package list is made again: the build has no network.
pkgs=gcc,libc6-dev,libseccomp-dev,busybox-static,procps,protobuf-compiler,libprotobuf-dev
if [ ! -s "$work/bookworm.tar" ] || [ "$(cat "$work/bookworm.pkgs" 2>/dev/null)" != "$pkgs" ]; then
    note "debootstrap bookworm from $mirror"
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase --include="$pkgs" \
        bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        die "debootstrap failed, see $work/debootstrap.log"
    tar -C "$work/rootfs" -cf "$work/bookworm.tar.tmp" .
    mv "$work/bookworm.tar.tmp" "$work/bookworm.tar"
    echo "$pkgs" >"$work/bookworm.pkgs"
    rm -rf --one-file-system "$work/rootfs"
fi

# 2. The toolchain and the crates, staged in the build context.
sysroot=$(rustc --print sysroot)
rm -rf "$work/toolchain"
mkdir -p "$work/toolchain"
cp -al "$sysroot/bin" "$sysroot/lib" "$work/toolchain/" 2>/dev/null ||
    cp -a "$sysroot/bin" "$sysroot/lib" "$work/toolchain/"
cargo vendor --locked "$work/vendor" >"$work/cargo-config.toml.tmp" 2>"$work/vendor.log" ||
    die "cargo vendor failed, see $work/vendor.log"
sed 's|directory = ".*"|directory = "/opt/vendor"|' "$work/cargo-config.toml.tmp" >"$work/cargo-config.toml"
rm "$work/cargo-config.toml.tmp"
grep -q /opt/vendor "$work/cargo-config.toml" || die "cargo vendor printed no source replacement"

# 3. A private dockerd with rt as its default runtime.
dir=$(mktemp -d /tmp/rt-test-dockerfile.XXXXXX)
name=${dir##*/}
made_run_docker=false
[ -e /run/docker ] || made_run_docker=true
cat >"$dir/daemon.json" <<JSON
{"runtimes": {"rt": {"path": "$rt"}}, "default-runtime": "rt",
 "deprecated-key-path": "$dir/key.json",
 "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 1024},
                     "nproc": {"Name": "nproc", "Soft": 4096, "Hard": 4096}}}
JSON
export DOCKER_HOST=unix://$dir/docker.sock DOCKER_CONFIG=$dir/client
docker=/usr/bin/docker
cleanup() {
    local rc=$? ids pid
    set +e
    ids=$($docker ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && $docker rm -f $ids >/dev/null 2>&1
    if [ -s "$dir/dockerd.pid" ]; then
        pid=$(cat "$dir/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    grep " $dir" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
    for cg in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/unified/"$name"; do
        [ -d "$cg" ] || continue
        find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
        rmdir "$cg" || rc=1
    done
    $made_run_docker && rmdir /run/docker/plugins /run/docker 2>/dev/null
    rm -rf --one-file-system "$dir" || rc=1
    exit "$rc"
}
trap cleanup EXIT
/usr/sbin/dockerd --config-file "$dir/daemon.json" --data-root "$dir/data" \
    --exec-root "$dir/exec" --pidfile "$dir/dockerd.pid" --host "$DOCKER_HOST" \
    --bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    --userland-proxy=false --exec-opt native.cgroupdriver=cgroupfs \
    --cgroup-parent "/$name" --storage-driver overlay2 >"$dir/dockerd.log" 2>&1 &
for i in $(seq 300); do
    $docker version >/dev/null 2>&1 && break
    [ "$i" = 300 ] && { cat "$dir/dockerd.log" >&2; die "dockerd did not start"; }
    sleep 0.2
done

$docker import "$work/bookworm.tar" rt-test-debian:bookworm >/dev/null
note "building Dockerfile.test (every RUN step in an rt container)"
DOCKER_BUILDKIT=0 $docker build --network none -f Dockerfile.test \
    --build-arg BASE=rt-test-debian:bookworm -t rt-test-image .

# 4. The suite, in the image.
note "running the test suite in the image"
$docker run --rm --network none --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt systempaths=unconfined \
    --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg -v /sys/fs/cgroup:/sys/fs/cgroup \
    --tmpfs /run:exec --tmpfs /tmp:exec rt-test-image "$@"
note "Dockerfile.test: build and suite passed"
