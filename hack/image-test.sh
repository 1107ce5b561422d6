#!/usr/bin/env bash
# The test suite as Dockerfile.test's image runs it: every test that needs nothing but rt
# (the unit tests, tests/oci-validation, tests/integration/tests/*.rs but the two client
# tests there). Not run here: the client tests (tests/integration/clients: docker, podman;
# tests/integration/tests/{containerd,cri}.rs, which install containerd from apt, and the
# image has no network) and the cgroup v2 VM lane (hack/vm-test.sh): they need packages and
# a VM the image does not have. The host's hack/test.sh runs them.
#   hack/image-test.sh           run the suite (needs root with (nearly) all privileges and
#                                the host's cgroups: hack/dockerfile-test.sh runs it so)
#   hack/image-test.sh --build   only build what the suite runs (Dockerfile.test's RUN step)
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
for t in tests/integration/tests/*.rs; do
    name=$(basename "$t" .rs)
    case $name in containerd | cri) continue ;; esac
    targets+=(--test "$name")
done
if [ "${1:-}" = --build ]; then
    # rt itself (the harness runs target/.../debug/rt), then the test binaries.
    cargo build --offline -p rt
    cargo test --offline --no-run -p rt -p oci-validation
    cargo test --offline --no-run -p integration --lib "${targets[@]}"
    exit 0
fi
threads=--test-threads="${RT_TEST_THREADS:-2}"
rc=0
cargo test --offline --no-fail-fast -p rt -p oci-validation -- "$threads" || rc=1
cargo test --offline --no-fail-fast -p integration --lib "${targets[@]}" -- "$threads" || rc=1
[ "$rc" = 0 ] || { echo "hack/image-test.sh: FAILED" >&2; exit 1; }
echo "hack/image-test.sh: all passed"
