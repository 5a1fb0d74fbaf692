#!/usr/bin/env bash
# net-ab.sh - before/after ratios for cvmm-net: DPDK virtio-user txonly (CPU 1) into several back-end
# variants (CPU 0), alternating run by run in one session, so that a loaded or noisy machine affects every
# variant alike.  See --help.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

help() {
    cat <<'EOT'
usage: net-ab.sh [options] LABEL=BACKEND [LABEL=BACKEND ...]

BACKEND is a cvmm-net binary with its options ("/path/cvmm-net --busy-poll=0"; --sink, --socket-path and
--no-sandbox are added; --source=SIZE with --rx), "dpdk" for DPDK's busy-polling vhost back-end (tests/harness/dpdk-vhost-sink.sh), or
"cmd:COMMAND" for any other back-end that listens on a socket, "{sock}" in COMMAND standing for its path
(e.g. rust-vmm's sink: "cmd:/tmp/rvmm/backend/target/release/rvmm-sink-backend {sock}").
Each round runs every variant once, in order; the first variant is the reference of the ratios.
  --rounds N     rounds (5)               --secs S     txonly window per run (3)
  --size B       frame size (64)          --packed     virtio-user with packed_vq=1
  --rx           the receive direction: each back-end sends (cvmm-net --source=SIZE instead of --sink,
                 DPDK net_vhost txonly; a cmd: back-end must send by itself) and virtio-user runs rxonly
  --json FILE    results in the benches' JSON convention (bench "net-ab", unit Mpps)
Prints one line per run and a table: label, median, min, max, spread (max/min), ratio of medians.
EOT
}

rounds=5 secs=3 size=64 packed=0 rx=0 json="" variants=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --rounds) rounds=${2:?}; shift 2 ;;  --secs) secs=${2:?}; shift 2 ;;
        --size) size=${2:?}; shift 2 ;;      --packed) packed=1; shift ;;
        --json) json=${2:?}; shift 2 ;;      --rx) rx=1; shift ;;
        -*) help >&2; exit 2 ;;
        *=*) variants+=("$1"); shift ;;
        *) help >&2; exit 2 ;;
    esac
done
[ ${#variants[@]} -ge 1 ] || { help >&2; exit 2; }
vargs=()
[ "$packed" = 0 ] || vargs=(--vdev-opts packed_vq=1)
if [ "$rx" = 1 ]; then # the back-end's role and the front-end's mode (and the rate it prints)
    beopt=(--source="$size") dpdkopt=(--mode txonly --txpkts "$size") vargs+=(--mode rxonly) dir=rx
else
    beopt=(--sink) dpdkopt=() dir=tx
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-net-ab.XXXXXX")
be="" sig=INT
cleanup() {
    if [ -n "$be" ]; then kill -"$sig" -- "-$be" 2>/dev/null || true; wait "$be" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load0=$(cut -d' ' -f1 /proc/loadavg)

one() { # one LABEL BACKEND -> prints the rate (or nothing)
    local sock=$work/s.sock out
    rm -f "$sock"
    set -- "$1" "${2//\{sock\}/$sock}"
    sig=INT
    if [ "$2" = dpdk ]; then
        setsid "$here/tests/harness/dpdk-vhost-sink.sh" "$sock" 0 --cpu 0 ${dpdkopt[@]+"${dpdkopt[@]}"} >"$work/be.log" 2>&1 &
    elif [ "${2#cmd:}" != "$2" ]; then
        # shellcheck disable=SC2086  # the command's arguments are words
        setsid taskset -c 0 ${2#cmd:} >"$work/be.log" 2>&1 &
        sig=TERM
    else
        # shellcheck disable=SC2086  # the variant's options are words
        setsid taskset -c 0 $2 --socket-path="$sock" "${beopt[@]}" --no-sandbox >"$work/be.log" 2>&1 &
    fi
    be=$!
    out=$("$here/tests/harness/dpdk-virtio-user.sh" "$sock" "$secs" "$size" --cpu 1 ${vargs[@]+"${vargs[@]}"} \
        2>>"$work/fe.log" || true)
    kill -"$sig" -- "-$be" 2>/dev/null || true # cvmm-net and testpmd stop on SIGINT, others on SIGTERM
    wait "$be" 2>/dev/null || true
    be=""
    sed -n "s/^${dir}only_mpps=//p" <<<"$out"
}

declare -A runs
for ((r = 1; r <= rounds; r++)); do
    for v in "${variants[@]}"; do
        label=${v%%=*}
        m=$(one "$label" "${v#*=}")
        echo "round $r $label ${m:-FAIL}"
        [ -z "$m" ] || runs[$label]="${runs[$label]:-} $m"
    done
done

stats() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {if (!NR) exit; m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%.3f %.3f %.3f\n", m, a[1], a[NR]}'; }
ref=""
printf '%-16s %8s %8s %8s %7s %7s\n' variant median min max spread ratio
entries=()
for v in "${variants[@]}"; do
    label=${v%%=*}
    s=$(stats "${runs[$label]:-}") || true
    [ -n "$s" ] || { printf '%-16s %8s\n' "$label" FAIL; continue; }
    read -r med min max <<<"$s"
    [ -n "$ref" ] || ref=$med
    printf '%-16s %8s %8s %8s %7.2f %7.2f\n' "$label" "$med" "$min" "$max" \
        "$(awk -v a="$max" -v b="$min" 'BEGIN{print (b > 0 ? a/b : 0)}')" \
        "$(awk -v a="$med" -v b="$ref" 'BEGIN{print (b > 0 ? a/b : 0)}')"
    rl=$(tr ' ' '\n' <<<"${runs[$label]}" | grep . | paste -sd, -)
    entries+=("{\"case\": \"$dir ${size}B $([ "$packed" = 1 ] && echo packed || echo split)\", \"backend\": \"$label\", \"unit\": \"Mpps\", \"median\": $med, \"min\": $min, \"max\": $max, \"runs\": [$rl]}")
done
if [ -n "$json" ]; then
    cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
    {
        printf '{\n  "bench": "net-ab",\n  "date": "%s",\n' "$start"
        printf '  "machine": {"cpu": "%s", "cores": %s, "kernel": "%s", "load1_start": %s, "load1_end": %s},\n' \
            "$cpu" "$(nproc)" "$(uname -r)" "$load0" "$(cut -d' ' -f1 /proc/loadavg)"
        printf '  "method": "DPDK virtio-user %sonly on CPU 1 against each back-end on CPU 0, %s s windows, %s rounds alternating",\n' \
            "$dir" "$secs" "$rounds"
        printf '  "results": [\n    %s\n  ]\n}\n' "$(IFS=$'\n'; sed 's/}$/},/; $ s/},$/}/' <<<"${entries[*]}" | paste -sd '\n' - | sed '2,$ s/^/    /')"
    } >"$json"
fi
