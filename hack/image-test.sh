#!/usr/bin/env bash
# The test suite as Dockerfile.test's image runs it: every test that needs nothing but rt
# (the unit tests, tests/oci-validation, tests/integration/tests/*.rs). The client tests
# (tests/integration/clients: docker, podman) and the cgroup v2 VM lane (hack/vm-test.sh)
# are not run here: they need packages and a VM the image does not have.
# Needs root with (nearly) all privileges and the host's cgroups (hack/dockerfile-test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
for t in tests/integration/tests/*.rs; do
    targets+=(--test "$(basename "$t" .rs)")
done
threads=--test-threads="${RT_TEST_THREADS:-2}"
rc=0
cargo test --offline --no-fail-fast -p rt -p oci-validation -- "$threads" || rc=1
cargo test --offline --no-fail-fast -p integration --lib "${targets[@]}" -- "$threads" || rc=1
[ "$rc" = 0 ] || { echo "hack/image-test.sh: FAILED" >&2; exit 1; }
echo "hack/image-test.sh: all passed"
