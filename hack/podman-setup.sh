#!/usr/bin/env bash
# Installs podman (Debian's, with conmon and containers-common) for the podman client test,
# only if missing. No recommends: no slirp4netns/fuse-overlayfs/buildah, the test uses
# --network none and the vfs storage driver. Idempotent; exits non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

ensure_pkgs podman:podman conmon:conmon /bin/busybox:busybox-static
podman --version
