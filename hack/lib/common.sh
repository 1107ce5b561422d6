# Shared shell helpers for hack/bench.sh and hack/podman-setup.sh (sourced, not run).

die() {
    echo "${0##*/}: error: $*" >&2
    exit 1
}

note() {
    echo "${0##*/}: $*" >&2
}

# ensure_pkgs CMD:PKG... — apt-get install each PKG whose CMD is not on PATH (CMD may be an
# absolute path). Runs apt-get update once, only when something is missing. Fails loudly.
ensure_pkgs() {
    local missing=() spec cmd pkg
    for spec in "$@"; do
        cmd=${spec%%:*}
        pkg=${spec#*:}
        if [[ $cmd == /* ]]; then
            [ -x "$cmd" ] && continue
        else
            command -v "$cmd" >/dev/null 2>&1 && continue
        fi
        missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "need root to install ${missing[*]}"
    note "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
        apt-get update -qq >&2 || die "apt-get update failed"
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
            die "apt-get install ${missing[*]} failed"
    fi
    for spec in "$@"; do
        cmd=${spec%%:*}
        if [[ $cmd == /* ]]; then
            [ -x "$cmd" ] || die "$cmd still missing after installing ${spec#*:}"
        else
            command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing ${spec#*:}"
        fi
    done
}

# make_busybox_rootfs DIR — a static busybox with every applet linked in DIR/bin.
make_busybox_rootfs() {
    local dir=$1 applet
    local bb=/bin/busybox
    [ -x "$bb" ] || die "$bb missing (apt-get install busybox-static)"
    file_is_static "$bb" || die "$bb is not static (install busybox-static, not busybox)"
    mkdir -p "$dir"/{bin,proc,sys,dev,tmp,etc,root}
    cp "$bb" "$dir/bin/busybox"
    for applet in $("$bb" --list); do
        [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
    done
    echo "root:x:0:0:root:/root:/bin/sh" >"$dir/etc/passwd"
    echo "root:x:0:" >"$dir/etc/group"
}

# file_is_static PATH — true when PATH has no ELF interpreter.
file_is_static() {
    command -v readelf >/dev/null 2>&1 || return 0
    ! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'Requesting program interpreter'
}

# busybox_oci_archive WORK IMAGE REF — WORK/image.tar: an OCI image layout (one layer: a
# busybox rootfs) named IMAGE, for `ctr images import`. Uses WORK/rootfs and WORK/layout.
busybox_oci_archive() {
    local work=$1 image=$2 ref=$3 lay=$1/layout L LS C CS M MS
    make_busybox_rootfs "$work/rootfs"
    mkdir -p "$lay/blobs/sha256"
    _blob() { # FILE -> "sha256:HEX SIZE", moved into the layout
        local h s
        h=$(sha256sum "$1" | cut -d' ' -f1)
        s=$(stat -c %s "$1")
        mv "$1" "$lay/blobs/sha256/$h"
        echo "sha256:$h $s"
    }
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$work/rootfs" -cf "$work/layer.tar" .
    read -r L LS <<<"$(_blob "$work/layer.tar")"
    printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
        "$L" >"$work/config.json"
    read -r C CS <<<"$(_blob "$work/config.json")"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
        "$C" "$CS" "$L" "$LS" >"$work/manifest.json"
    read -r M MS <<<"$(_blob "$work/manifest.json")"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
        "$M" "$MS" "$image" "$ref" >"$lay/index.json"
    echo '{"imageLayoutVersion":"1.0.0"}' >"$lay/oci-layout"
    tar -C "$lay" -cf "$work/image.tar" .
}
