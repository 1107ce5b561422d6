#!/usr/bin/env bash
# Installs Debian's Docker (docker.io: dockerd, /usr/bin/docker, containerd, runc) for the
# Docker client test (tests/integration/clients/docker.rs), only if missing. The test runs its
# own private dockerd; no service is started here. Idempotent; exits non-zero on any failure.
#
# The image may ship another docker CLI at /usr/local/bin/docker: the test uses /usr/bin/docker
# (docker.io's, matching the daemon's API version) explicitly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

ensure_pkgs /usr/sbin/dockerd:docker.io /usr/bin/containerd:containerd \
    /bin/busybox:busybox-static /usr/bin/script:bsdutils
/usr/sbin/dockerd --version
[ -x /usr/bin/docker ] || die "/usr/bin/docker missing after installing docker.io"
/usr/bin/docker --version
