#!/usr/bin/env bash
# Builds Dockerfile.test and runs the image: rt's test suite inside a container. CI runs it
# (hack/test.sh, stage `image`). Exits non-zero on any failure, after cleaning up.
#   hack/dockerfile-test.sh [CMD...]   CMD replaces the image's command (hack/image-test.sh),
#                                      e.g. `cargo test --offline -p oci-validation --test
#                                      hardening -- dev_console` to dig into one test
#   RT_IMAGE_LINT=true                 also run clippy in the image build (Dockerfile.test's
#                                      default; off here: hack/test.sh's clippy stage has
#                                      checked the same tree with the same toolchain)
#   RT_IMAGE_CACHE=DIR                 where the debootstrapped base is kept between runs
#                                      (default /var/cache/rt-test/dockerfile-test)
#
#  1. a Debian bookworm base made here: `debootstrap --variant=minbase` from the mirror apt
#     uses, with the build dependencies included, imported with `docker import` (nothing is
#     pulled). Cached as $RT_IMAGE_CACHE/bookworm.tar, made again when the package list or
#     the mirror changes;
#  2. the build context's extras under target/dockerfile-test/: the host's Rust toolchain
#     (hard links to `rustc --print sysroot`: bin/ and lib/) and the host's cargo registry
#     cache (index entries and .crate files; `cargo fetch --locked` first), so the build
#     runs with --network none;
#  3. a private dockerd (own data/exec root, socket, cgroup parent, no bridge, no iptables)
#     whose default runtime is rt: every RUN step of the build runs in an rt container;
#  4. `docker run` of the image as root with all capabilities root has, no seccomp, no
#     masked /proc paths, every device (and /dev/kmsg, which unit tests open) and the
#     host's cgroup hierarchies.
# The dockerd and everything it made (processes, mounts, cgroups, its root) are removed at
# exit, also on failure or SIGTERM/SIGINT.
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/lib/common.sh
[ "$(id -u)" = 0 ] || die "must run as root"
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
start=$SECONDS
phase() { note "[$((SECONDS - start)) s] $*"; }

bash hack/docker-setup.sh >/dev/null
ensure_pkgs debootstrap:debootstrap
cargo build -p rt
rt=$PWD/target/x86_64-unknown-linux-gnu/debug/rt
work=$PWD/target/dockerfile-test
cache=${RT_IMAGE_CACHE:-/var/cache/rt-test/dockerfile-test}
mkdir -p "$work" "$cache"

# 1. The base: debootstrap from the mirror apt uses (one builder at a time per cache).
mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Codename: bookworm' 2>/dev/null |
    grep -m1 '/debian/$' || true)
mirror=${mirror:-http://deb.debian.org/debian/}
# (protobuf-compiler, libprotobuf-dev: the k8s-cri crate's build script runs protoc.) A
# cached base made with another package list is made again: the build has no network.
pkgs=gcc,libc6-dev,libseccomp-dev,busybox-static,procps,protobuf-compiler,libprotobuf-dev
key="bookworm minbase $pkgs $mirror"
exec 9>"$cache/lock"
flock 9
if [ ! -s "$cache/bookworm.tar" ] || [ "$(cat "$cache/bookworm.key" 2>/dev/null)" != "$key" ]; then
    phase "debootstrap bookworm from $mirror (cached in $cache)"
    rm -rf --one-file-system "$cache/rootfs" "$cache/bookworm.tar" "$cache/bookworm.key"
    debootstrap --variant=minbase --include="$pkgs" \
        bookworm "$cache/rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
        die "debootstrap failed, see $cache/debootstrap.log"
    tar -C "$cache/rootfs" -cf "$cache/bookworm.tar.tmp" .
    mv "$cache/bookworm.tar.tmp" "$cache/bookworm.tar"
    echo "$key" >"$cache/bookworm.key"
    rm -rf --one-file-system "$cache/rootfs"
else
    phase "base: $cache/bookworm.tar (cached)"
fi
exec 9>&-

# 2. The toolchain and the crates, staged in the build context (hard links: no copy).
sysroot=$(rustc --print sysroot)
rm -rf "$work/toolchain" "$work/cargo-home" "$work/vendor" "$work/cargo-config.toml"
mkdir -p "$work/toolchain" "$work/cargo-home/registry"
cp -al "$sysroot/bin" "$sysroot/lib" "$work/toolchain/" 2>/dev/null ||
    cp -a "$sysroot/bin" "$sysroot/lib" "$work/toolchain/"
# Every crate Cargo.lock names for this target, in the host's registry cache (downloads
# from crates.io only what is missing there).
cargo fetch --locked --target x86_64-unknown-linux-gnu >/dev/null 2>"$work/fetch.log" ||
    die "cargo fetch failed, see $work/fetch.log"
registry=${CARGO_HOME:-$HOME/.cargo}/registry
[ -d "$registry/index" ] && [ -d "$registry/cache" ] || die "no cargo registry cache at $registry"
cp -al "$registry/index" "$registry/cache" "$work/cargo-home/registry/" 2>/dev/null ||
    cp -a "$registry/index" "$registry/cache" "$work/cargo-home/registry/"

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
    local rc=$? ids pid p try
    set +e
    trap - TERM INT
    ids=$($docker ps -aq 2>/dev/null || true)
    [ -n "$ids" ] && $docker rm -f $ids >/dev/null 2>&1
    if [ -s "$dir/dockerd.pid" ]; then
        pid=$(cat "$dir/dockerd.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    [ "$rc" != 0 ] && [ -s "$dir/dockerd.log" ] && { echo "--- dockerd.log (tail)" >&2; tail -20 "$dir/dockerd.log" >&2; }
    # What dockerd started and left (its containerd, shims), named by this run's
    # directory: given a second to exit, then killed by PID.
    for try in 1 2; do
        for p in /proc/[0-9]*; do
            grep -qF "$dir/" "$p/cmdline" 2>/dev/null || continue
            [ "$try" = 1 ] && { sleep 1; continue 2; }
            note "killing leftover ${p#/proc/}: $(tr '\0' ' ' <"$p/cmdline")"
            kill -9 "${p#/proc/}" 2>/dev/null
        done
        break
    done
    grep " $dir" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l
    for cg in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/unified/"$name"; do
        [ -d "$cg" ] || continue
        find "$cg" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
        rmdir "$cg" || { note "cgroup $cg left behind"; rc=1; }
    done
    $made_run_docker && rmdir /run/docker/plugins /run/docker 2>/dev/null
    rm -rf --one-file-system "$dir" || rc=1
    if [ "$rc" = 0 ]; then phase "done, cleaned up"; else note "FAILED (exit $rc)"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
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

# Long steps run in the background and are waited for, so that a SIGTERM (hack/test.sh's
# timeout) runs the cleanup at once.
bg() {
    "$@" &
    wait $!
}
phase "docker import of the base"
bg $docker import "$cache/bookworm.tar" rt-test-debian:bookworm >/dev/null
phase "building Dockerfile.test (every RUN step in an rt container)"
bg env DOCKER_BUILDKIT=0 $docker build --network none -f Dockerfile.test \
    --build-arg BASE=rt-test-debian:bookworm --build-arg LINT="${RT_IMAGE_LINT:-false}" \
    -t rt-test-image .

# 4. The suite, in the image.
phase "running ${*:-the test suite} in the image"
bg $docker run --rm --network none --cap-add ALL --cap-drop SYS_RESOURCE \
    --security-opt seccomp=unconfined --security-opt systempaths=unconfined \
    --device-cgroup-rule 'a *:* rwm' --device /dev/kmsg -v /sys/fs/cgroup:/sys/fs/cgroup \
    --tmpfs /run:exec --tmpfs /tmp:exec rt-test-image "$@"
phase "Dockerfile.test: build and ${*:-suite} passed"
