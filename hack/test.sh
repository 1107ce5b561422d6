#!/usr/bin/env bash
# The whole check: setup (packages + build), formatting, clippy, all tests.
# Exits non-zero if anything failed; runs every step regardless, then reports.
set -uo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"

bash hack/setup.sh || { echo "hack/test.sh: setup failed" >&2; exit 1; }

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
step test cargo test --workspace --no-fail-fast -- --test-threads="${RT_TEST_THREADS:-2}"

if [ "${#failed[@]}" -gt 0 ]; then
    echo "hack/test.sh: FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "hack/test.sh: all passed"
