#!/usr/bin/env bash
# The whole check: setup (packages + build), formatting, clippy, all tests, a soak, the
# cgroup v2 VM lane and the Dockerfile.test image lane.
# Exits non-zero if anything failed; runs every step regardless, then reports.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

bash hack/setup.sh || { echo "hack/test.sh: setup failed" >&2; exit 1; }

# Leftovers of earlier, interrupted runs (the harness cleans up after itself, but not
# after a kill -9): containers under /run/rt-test/r-<pid>-<n> whose test process is gone.
RT=target/x86_64-unknown-linux-gnu/debug/rt
for root in /run/rt-test/r-*; do
    [ -d "$root" ] || continue
    pid=${root#/run/rt-test/r-}
    pid=${pid%%-*}
    kill -0 "$pid" 2>/dev/null && continue
    for c in "$root"/*/; do
        [ -d "$c" ] && "$RT" --root "$root" delete -f "$(basename "$c")" >/dev/null 2>&1
    done
    rm -rf --one-file-system "$root"
done

failed=()
step() {
    local name=$1
    shift
    echo "=== $name: $*"
    if "$@"; then
        echo "=== $name: ok"
    else
        echo "=== $name: FAILED"
        failed+=("$name")
    fi
}

step fmt cargo fmt --all -- --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
# Tests run real containers; two at a time keeps a 2-core machine responsive.
# A hung test must not hang CI: the whole run is bounded (RT_TEST_TOTAL_TIMEOUT seconds).
step test timeout -k 30 "${RT_TEST_TOTAL_TIMEOUT:-3600}" \
    cargo test --workspace --no-fail-fast -- --test-threads="${RT_TEST_THREADS:-2}"
# A short soak (about 15 s): no growth of rt's state, cgroups, mounts, processes, fds.
step soak env RT_BIN="$PWD/target/x86_64-unknown-linux-gnu/debug/rt" bash hack/soak.sh 50
step vm-v2 bash hack/vm-test.sh
# Dockerfile.test: built by a private dockerd (rt runs every RUN step) from a debootstrapped
# base, then rt's suite in that image (docs/clients/docker.md). About 2.5 min with the base
# cached, 6 cold; bounded like the tests (on SIGTERM it stops its dockerd and cleans up).
step image timeout -k 60 "${RT_IMAGE_TIMEOUT:-1800}" bash hack/dockerfile-test.sh

if [ "${#failed[@]}" -gt 0 ]; then
    echo "hack/test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "hack/test.sh: all passed"
