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
