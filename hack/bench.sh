#!/usr/bin/env bash
# rt beside runc (and crun), in one run: per-operation wall times and peak RSS, with
# ratios rt/runc (and rt/crun).
#
#   hack/bench.sh [-n N] [--json] [--no-build] [--crun] [--v2]
#
#   -n N        measured iterations per operation (default 50; env BENCH_N), after
#               BENCH_WARMUP (default 5) unmeasured ones
#   --json      JSON on stdout (the table goes to stderr); also env BENCH_JSON=1
#   --no-build  do not run `cargo build --release -p rt` (env RT_BIN may point at a binary)
#   --crun      compare crun too (crun refuses cgroup v1 hybrid hosts: pure v2 only)
#   --v2        build here, install crun here, then run this script with --crun inside the
#               cgroup v2 QEMU guest of hack/vm-test.sh (TCG: absolute times are slow,
#               the ratios are what counts; default -n 20 there)
#
# Operations (each container gets its own linux.cgroupsPath /rt-test-bench-..., so both
# runtimes go through their cgroup code; the config is the one `rt spec` writes, edited
# with jq: terminal false, args ["/bin/true"]; runc gets the very same config.json):
#   create_start_delete  create + start + delete --force of /bin/true, per container
#   create / start / delete  the three parts of it
#   run                  foreground `run` of /bin/true (includes the runtime's own delete)
#   exec                 `exec <id> /bin/true` into a running `sleep` container
#   rss_create / rss_run peak RSS (KiB) of the runtime process, GNU time's %M: the max
#                        RSS of the process and of the descendants it reaped (for `run`
#                        that includes the container's /bin/true)
# rt and runc alternate inside every iteration, so load from other users of the machine
# hits both alike. Nothing here asserts on time: the script reports, it only fails on errors.
# crun is compared only with --crun / --v2: crun 1.8 refuses cgroup v1 hybrid layouts.
# At the end hack/bench-shim.sh compares containerd through rt's shim with containerd's runc
# shim + runc: `ctr run --rm /bin/true` time and shim RSS per container (BENCH_SHIM=0 skips).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
# shellcheck source=lib/common.sh
. "$here/lib/common.sh"

N=${BENCH_N:-50}
WARMUP=${BENCH_WARMUP:-5}
JSON=${BENCH_JSON:-0}
BUILD=1
RUNTIMES=(rt runc)
V2=0
ARGS=("$@")
while [ $# -gt 0 ]; do
    case $1 in
    -n) N=${2:?-n needs a number}; shift 2 ;;
    --json) JSON=1; shift ;;
    --no-build) BUILD=0; shift ;;
    --crun) RUNTIMES=(rt runc crun); shift ;;
    --v2) V2=1; shift ;;
    -h | --help) sed -n '2,33p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done
[[ $N =~ ^[1-9][0-9]*$ ]] || die "-n: not a positive number: $N"
[ "$(id -u)" = 0 ] || die "must run as root (real containers)"
[ -n "${EPOCHREALTIME:-}" ] || die "bash >= 5 needed (EPOCHREALTIME)"

if [ "$V2" = 1 ]; then
    # Everything the guest needs comes from this host's / (read-only there).
    ensure_pkgs /bin/busybox:busybox-static runc:runc crun:crun jq:jq /usr/bin/time:time
    note "building rt (release)"
    (cd "$repo" && cargo build --release -p rt >&2) || die "cargo build --release -p rt failed"
    rest=()
    for a in "${ARGS[@]}"; do [ "$a" = --v2 ] || rest+=("$a"); done
    [[ " ${rest[*]} " == *" -n "* ]] || rest=(-n "${BENCH_N:-20}" "${rest[@]}")
    exec "$here/vm-test.sh" --no-build -- env BENCH_SHIM=0 RT_BIN="$repo/target/x86_64-unknown-linux-gnu/release/rt" \
        bash hack/bench.sh --no-build --crun "${rest[@]}"
fi
ensure_pkgs /bin/busybox:busybox-static runc:runc jq:jq /usr/bin/time:time
RUNC=$(command -v runc)
if [[ " ${RUNTIMES[*]} " == *" crun "* ]]; then
    ensure_pkgs crun:crun
    [ -f /sys/fs/cgroup/cgroup.controllers ] || die "--crun: crun needs a pure cgroup v2 host (try --v2)"
fi

if [ "$BUILD" = 1 ] && [ -z "${RT_BIN:-}" ]; then
    note "building rt (release)"
    (cd "$repo" && cargo build --release -p rt >&2) || die "cargo build --release -p rt failed"
fi
RT=${RT_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/rt}
[ -x "$RT" ] || die "$RT missing (build it, or set RT_BIN)"

work=$(mktemp -d /tmp/rt-bench.XXXXXX)
tag="rt-test-bench-$$"
declare -A ROOT BIN=([rt]="$RT" [runc]="$RUNC")
[[ " ${RUNTIMES[*]} " == *" crun "* ]] && BIN[crun]=$(command -v crun)
for r in "${RUNTIMES[@]}"; do
    ROOT[$r]="$work/state-$r"
    mkdir -p "${ROOT[$r]}"
done

cleanup() {
    local r id d leaked=0
    set +e
    for r in "${RUNTIMES[@]}"; do
        for id in $("${BIN[$r]}" --root "${ROOT[$r]}" list -q 2>/dev/null); do
            "${BIN[$r]}" --root "${ROOT[$r]}" delete --force "$id" >/dev/null 2>&1
        done
    done
    # Cgroups either runtime left behind (it should have removed them at delete).
    for d in /sys/fs/cgroup/*/"$tag"-* /sys/fs/cgroup/"$tag"-*; do
        [ -d "$d" ] || continue
        leaked=$((leaked + 1))
        rmdir "$d" 2>/dev/null
    done
    [ "$leaked" -gt 0 ] && note "warning: removed $leaked leftover cgroup dirs named $tag-*"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- bundle: one shared read-only busybox rootfs; one config.json per container ---
make_busybox_rootfs "$work/rootfs"
(cd "$work" && "$RT" spec) || die "rt spec failed"
# crun 1.8 accepts only ociVersion 1.0.x ("unknown version specified"): all runtimes get
# the same config, so with crun it says 1.0.2-dev (what runc 1.1.5's spec writes).
ocivers=$(jq -r .ociVersion "$work/config.json")
[ -n "${BIN[crun]:-}" ] && ocivers=1.0.2-dev
jq --arg root "$work/rootfs" --arg v "$ocivers" \
    '.ociVersion = $v | .process.terminal = false | .process.args = ["/bin/true"] | .root.path = $root' \
    "$work/config.json" >"$work/base.json" || die "jq failed on rt spec's config.json"

# bundle RUNTIME NAME ARGS_JSON -> prints a bundle dir whose config has its own cgroupsPath
bundle() {
    local dir="$work/bundles/$1-$2"
    mkdir -p "$dir"
    jq --arg cg "/$tag-$1-$2" --argjson args "$3" \
        '.linux.cgroupsPath = $cg | .process.args = $args' "$work/base.json" >"$dir/config.json" ||
        die "jq failed writing $dir/config.json"
    echo "$dir"
}

ERR="$work/err"
# rtc RUNTIME ARGS... — run the runtime with its --root, stdio away from us, fail loudly.
rtc() {
    local r=$1
    shift
    if ! "${BIN[$r]}" --root "${ROOT[$r]}" "$@" </dev/null >/dev/null 2>"$ERR"; then
        echo "--- $r $* failed:" >&2
        cat "$ERR" >&2
        die "$r $1 failed"
    fi
}

now_us() { local t=${EPOCHREALTIME/./}; echo "$((10#$t))"; }

declare -A SAMPLES # "$metric.$runtime" -> space separated microseconds (or KiB for rss)
add() { SAMPLES[$1.$2]+="$3 "; }

# order ITER -> the runtimes rotated by ITER (each goes first in turn)
order_of() {
    local k=$(($1 % ${#RUNTIMES[@]}))
    order=("${RUNTIMES[@]:k}" "${RUNTIMES[@]:0:k}")
}

# --- create/start/delete and run, alternating runtimes ---
one_csd() { # RUNTIME ITER MEASURE
    local r=$1 i=$2 id="b-$1-csd-$2" dir t0 t1 t2 t3
    dir=$(bundle "$r" "csd-$i" '["/bin/true"]')
    t0=$(now_us)
    rtc "$r" create --bundle "$dir" "$id"
    t1=$(now_us)
    rtc "$r" start "$id"
    t2=$(now_us)
    rtc "$r" delete --force "$id"
    t3=$(now_us)
    if [ "$3" = 1 ]; then
        add create "$r" $((t1 - t0))
        add start "$r" $((t2 - t1))
        add delete "$r" $((t3 - t2))
        add create_start_delete "$r" $((t3 - t0))
    fi
}
one_run() { # RUNTIME ITER MEASURE
    local r=$1 i=$2 id="b-$1-run-$2" dir t0 t1
    dir=$(bundle "$r" "run-$i" '["/bin/true"]')
    t0=$(now_us)
    rtc "$r" run --bundle "$dir" "$id"
    t1=$(now_us)
    if [ "$3" = 1 ]; then add run "$r" $((t1 - t0)); fi
}

note "warm-up ($WARMUP) and $N measured iterations: create+start+delete, run"
for ((i = 0; i < WARMUP + N; i++)); do
    m=$((i >= WARMUP ? 1 : 0))
    order_of "$i" # alternate which runtime goes first
    for r in "${order[@]}"; do one_csd "$r" "$i" "$m"; done
    for r in "${order[@]}"; do one_run "$r" "$i" "$m"; done
done

# --- exec into a running container ---
note "exec: $N measured execs of /bin/true into a sleeping container"
declare -A CGROUPS
for r in "${RUNTIMES[@]}"; do
    dir=$(bundle "$r" exec '["/bin/sleep","1000"]')
    rtc "$r" create --bundle "$dir" "b-$r-exec"
    rtc "$r" start "b-$r-exec"
    # Does this runtime really put the container in its cgroup? (reported beside the table)
    if [ -d "/sys/fs/cgroup/memory/$tag-$r-exec" ] || [ -d "/sys/fs/cgroup/$tag-$r-exec" ]; then
        CGROUPS[$r]=yes
    else
        CGROUPS[$r]=no
    fi
done
for ((i = 0; i < WARMUP + N; i++)); do
    order_of "$i"
    for r in "${order[@]}"; do
        t0=$(now_us)
        rtc "$r" exec "b-$r-exec" /bin/true
        t1=$(now_us)
        if ((i >= WARMUP)); then add exec "$r" $((t1 - t0)); fi
    done
done
for r in "${RUNTIMES[@]}"; do rtc "$r" delete --force "b-$r-exec"; done

# --- peak RSS (a few samples each; the max is reported) ---
note "peak RSS of create and run"
RSSN=5
for ((i = 0; i < RSSN; i++)); do
    for r in "${RUNTIMES[@]}"; do
        dir=$(bundle "$r" "rss-$i" '["/bin/true"]')
        /usr/bin/time -f %M -o "$work/rss" "${BIN[$r]}" --root "${ROOT[$r]}" \
            create --bundle "$dir" "b-$r-rss-$i" </dev/null >/dev/null 2>"$ERR" ||
            { cat "$ERR" >&2; die "$r create (under time) failed"; }
        add rss_create "$r" "$(tail -n1 "$work/rss")"
        rtc "$r" delete --force "b-$r-rss-$i"
        dir=$(bundle "$r" "rssrun-$i" '["/bin/true"]')
        /usr/bin/time -f %M -o "$work/rss" "${BIN[$r]}" --root "${ROOT[$r]}" \
            run --bundle "$dir" "b-$r-rssrun-$i" </dev/null >/dev/null 2>"$ERR" ||
            { cat "$ERR" >&2; die "$r run (under time) failed"; }
        add rss_run "$r" "$(tail -n1 "$work/rss")"
    done
done

# --- report ---
# stats "samples" -> "mean median min max" (integers in, floats out)
stats() {
    tr ' ' '\n' <<<"$1" | awk 'NF { v[n++] = $1; s += $1 }
        END {
            if (n == 0) { print "0 0 0 0"; exit }
            # insertion sort: n is small
            for (i = 1; i < n; i++) { x = v[i]; j = i - 1
                while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j-- } v[j + 1] = x }
            med = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
            printf "%.1f %.1f %.1f %.1f\n", s / n, med, v[0], v[n - 1]
        }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

# By descriptor, not /dev/stdout: the QEMU guest's devtmpfs has no /dev/stdout link.
outfd=1
[ "$JSON" = 1 ] && outfd=2
time_metrics=(create_start_delete create start delete run exec)
rss_metrics=(rss_create rss_run)
rt_size=$(stat -c %s "$RT")
runc_size=$(stat -c %s "$RUNC")
json_metrics=()
{
    echo
    echo "rt:   $RT ($((rt_size / 1024)) KiB, $("$RT" --version 2>/dev/null | head -n1)) cgroups used: ${CGROUPS[rt]}"
    echo "runc: $RUNC ($((runc_size / 1024)) KiB, $("$RUNC" --version | head -n1)) cgroups used: ${CGROUPS[runc]}"
    echo "host: $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg); N=$N after $WARMUP warm-up"
    echo
    printf '%-20s %10s %10s %10s %10s %8s\n' "wall time (ms)" "rt mean" "rt median" "runc mean" "runc med" "rt/runc"
    for m in "${time_metrics[@]}"; do
        read -r a am _ _ <<<"$(stats "${SAMPLES[$m.rt]}")"
        read -r b bm _ _ <<<"$(stats "${SAMPLES[$m.runc]}")"
        printf '%-20s %10.2f %10.2f %10.2f %10.2f %8s\n' "$m" \
            "$(awk -v x="$a" 'BEGIN{print x/1000}')" "$(awk -v x="$am" 'BEGIN{print x/1000}')" \
            "$(awk -v x="$b" 'BEGIN{print x/1000}')" "$(awk -v x="$bm" 'BEGIN{print x/1000}')" \
            "$(ratio "$a" "$b")"
        json_metrics+=("$(jq -cn --arg m "$m" --argjson a "$a" --argjson am "$am" --argjson b "$b" \
            --argjson bm "$bm" --arg r "$(ratio "$a" "$b")" \
            '{($m): {unit: "ms", rt_mean: ($a/1000), rt_median: ($am/1000),
              runc_mean: ($b/1000), runc_median: ($bm/1000), ratio: ($r | tonumber? // null)}}')")
    done
    echo
    printf '%-20s %10s %10s %8s\n' "peak RSS (KiB)" "rt max" "runc max" "rt/runc"
    for m in "${rss_metrics[@]}"; do
        read -r _ _ _ a <<<"$(stats "${SAMPLES[$m.rt]}")"
        read -r _ _ _ b <<<"$(stats "${SAMPLES[$m.runc]}")"
        printf '%-20s %10.0f %10.0f %8s\n' "$m" "$a" "$b" "$(ratio "$a" "$b")"
        json_metrics+=("$(jq -cn --arg m "$m" --argjson a "$a" --argjson b "$b" \
            --arg r "$(ratio "$a" "$b")" '{($m): {unit: "KiB", rt: $a, runc: $b, ratio: ($r | tonumber? // null)}}')")
    done
    printf '%-20s %10d %10d %8s\n' "binary size (KiB)" $((rt_size / 1024)) $((runc_size / 1024)) \
        "$(ratio "$rt_size" "$runc_size")"
    echo
    for m in "${time_metrics[@]}"; do
        read -r a _ _ _ <<<"$(stats "${SAMPLES[$m.rt]}")"
        read -r b _ _ _ <<<"$(stats "${SAMPLES[$m.runc]}")"
        echo "ratio $m rt/runc = $(ratio "$a" "$b")"
    done
    for m in "${rss_metrics[@]}"; do
        read -r _ _ _ a <<<"$(stats "${SAMPLES[$m.rt]}")"
        read -r _ _ _ b <<<"$(stats "${SAMPLES[$m.runc]}")"
        echo "ratio $m rt/runc = $(ratio "$a" "$b")"
    done
    if [ -n "${BIN[crun]:-}" ]; then
        echo
        echo "crun: ${BIN[crun]} ($(($(stat -c %s "${BIN[crun]}") / 1024)) KiB, $("${BIN[crun]}" --version | head -n1)) cgroups used: ${CGROUPS[crun]}"
        printf '%-20s %10s %10s %10s %10s %8s\n' "wall time (ms)" "rt mean" "rt median" "crun mean" "crun med" "rt/crun"
        for m in "${time_metrics[@]}"; do
            read -r a am _ _ <<<"$(stats "${SAMPLES[$m.rt]}")"
            read -r b bm _ _ <<<"$(stats "${SAMPLES[$m.crun]}")"
            printf '%-20s %10.2f %10.2f %10.2f %10.2f %8s\n' "$m" \
                "$(awk -v x="$a" 'BEGIN{print x/1000}')" "$(awk -v x="$am" 'BEGIN{print x/1000}')" \
                "$(awk -v x="$b" 'BEGIN{print x/1000}')" "$(awk -v x="$bm" 'BEGIN{print x/1000}')" \
                "$(ratio "$a" "$b")"
            json_metrics+=("$(jq -cn --arg m "$m" --argjson b "$b" --argjson bm "$bm" --arg r "$(ratio "$a" "$b")" \
                '{($m): {crun_mean: ($b/1000), crun_median: ($bm/1000), crun_ratio: ($r | tonumber? // null)}}')")
        done
        for m in "${rss_metrics[@]}"; do
            read -r _ _ _ a <<<"$(stats "${SAMPLES[$m.rt]}")"
            read -r _ _ _ b <<<"$(stats "${SAMPLES[$m.crun]}")"
            printf '%-20s %10.0f %10s %10.0f %10s %8s\n' "$m (KiB max)" "$a" "" "$b" "" "$(ratio "$a" "$b")"
            json_metrics+=("$(jq -cn --arg m "$m" --argjson b "$b" --arg r "$(ratio "$a" "$b")" \
                '{($m): {crun: $b, crun_ratio: ($r | tonumber? // null)}}')")
        done
        for m in "${time_metrics[@]}"; do
            read -r a _ _ _ <<<"$(stats "${SAMPLES[$m.rt]}")"
            read -r b _ _ _ <<<"$(stats "${SAMPLES[$m.crun]}")"
            echo "ratio $m rt/crun = $(ratio "$a" "$b")"
        done
    fi
} >&"$outfd"

if [ "$JSON" = 1 ]; then
    printf '%s\n' "${json_metrics[@]}" | jq -s --argjson n "$N" --arg rt "$RT" --arg runc "$RUNC" \
        --arg cgrt "${CGROUPS[rt]}" --arg cgrunc "${CGROUPS[runc]}" \
        --argjson rts "$rt_size" --argjson runcs "$runc_size" \
        '{n: $n, rt: {path: $rt, size: $rts, cgroups: $cgrt},
          runc: {path: $runc, size: $runcs, cgroups: $cgrunc},
          metrics: (reduce .[] as $x ({}; . * $x))}'
fi

# --- containerd: rt's shim beside containerd's runc shim with runc (hack/bench-shim.sh) ---
if [ "${BENCH_SHIM:-1}" = 1 ]; then
    note "containerd shims: hack/bench-shim.sh (BENCH_SHIM=0 skips)"
    shim_args=(-n "$N")
    [ "$BUILD" = 1 ] || shim_args+=(--no-build)
    bash "$here/bench-shim.sh" "${shim_args[@]}" >&"$outfd" || die "hack/bench-shim.sh failed"
fi
