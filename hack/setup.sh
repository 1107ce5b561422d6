#!/usr/bin/env bash
# Installs what rt's tests and demo need (idempotent), then builds the workspace.
#   busybox-static  the test/demo rootfs (/bin/busybox)
#   libseccomp-dev  libseccomp.a, linked statically into rt
#   runc            reference runtime, for comparing behaviour
#   jq              the demo edits config.json with it
#   util-linux      unshare(1), used by namespace tests
#   podman, conmon  the podman client test (tests/integration/clients/podman.rs), via
#                   hack/podman-setup.sh
#   docker.io       the Docker client test (tests/integration/clients/docker.rs), via
#                   hack/docker-setup.sh
#   containerd      the containerd client test (tests/integration/tests/containerd.rs), via
#                   hack/containerd-setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "hack/setup.sh: must run as root (tests run real containers)" >&2
    exit 1
fi

# --demo: only what hack/demo.sh needs (no podman, no runc), and only rt is built.
demo=false
[ "${1:-}" = --demo ] && demo=true

pkgs=(busybox-static libseccomp-dev runc jq util-linux)
$demo && pkgs=(busybox-static libseccomp-dev jq)
missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "hack/setup.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! $demo && [ -f tests/integration/clients/podman.rs ] && [ -f hack/podman-setup.sh ]; then
    bash hack/podman-setup.sh
fi
if ! $demo && [ -f hack/docker-setup.sh ]; then
    bash hack/docker-setup.sh
fi
if ! $demo && [ -f hack/containerd-setup.sh ]; then
    bash hack/containerd-setup.sh
fi

if ! command -v cargo >/dev/null; then
    # rustup installs into ~/.cargo/bin, which a non-login shell may lack.
    export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "hack/setup.sh: cargo not found (install rustup)" >&2; exit 1; }
if command -v rustup >/dev/null; then
    for c in clippy rustfmt; do
        rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
    done
fi

if $demo; then
    cargo build -p rt
else
    cargo build --workspace
fi
