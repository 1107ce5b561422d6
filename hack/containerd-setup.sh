#!/usr/bin/env bash
# Installs containerd (Debian's 1.6, with ctr and containerd-shim-runc-v2) for the containerd
# client test (tests/integration/tests/containerd.rs) and hack/bench.sh, only if missing. The
# tests start their own private containerd; the package's service is not used. Also for the
# CRI test (tests/integration/tests/cri.rs): containernetworking-plugins (/usr/lib/cni) and
# protobuf-compiler (protoc, which the k8s-cri crate's build script runs). Idempotent; exits
# non-zero on any failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

ensure_pkgs containerd:containerd ctr:containerd containerd-shim-runc-v2:containerd \
    /bin/busybox:busybox-static script:bsdutils protoc:protobuf-compiler \
    /usr/lib/cni/static:containernetworking-plugins
containerd --version
