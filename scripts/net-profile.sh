#!/usr/bin/env bash
# net-profile.sh - where a vhost-user net back-end's time goes: DPDK virtio-user txonly (CPU 1) into one
# back-end (CPU 0) while `perf record -g` samples CPU 0 and `perf stat` counts the back-end.  See --help.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

help() {
    cat <<'EOT'
usage: net-profile.sh [options] BACKEND

BACKEND is a cvmm-net binary with its options ("/path/cvmm-net --poll"; --sink or --source, --socket-path and
--no-sandbox are added) or "dpdk" (DPDK's busy-polling vhost back-end, tests/harness/dpdk-vhost-sink.sh).
  --secs S       txonly window (5)        --size B     frame size (64)
  --packed       virtio-user with packed_vq=1
  --rx           the receive direction: the back-end sends (cvmm-net --source=SIZE, DPDK net_vhost
                 txonly) and virtio-user runs rxonly
  --out DIR      keep perf.data and the reports in DIR (default: a temporary directory, removed)
  --top N        symbols shown (25)
  --frontend     also profile the front-end (testpmd under `perf record` in the record pass): where its
                 CPU goes with this back-end, e.g. its clean-up of used descriptors
Two passes, each a window of SECS: the back-end runs under `perf stat -e task-clock,
context-switches,cpu-migrations` (totals over its life), then under `perf record -e
cpu-clock -g` (cpu-clock works in a VM without hardware counters); prints the front-end's rates and the
top N of `perf report --no-children` by command, object and symbol.  Needs root or perf_event_paranoid
<= 1 (the back-end is started by perf: attaching to a running one fails across PID namespaces).
EOT
}

secs=5 size=64 packed=0 rx=0 out="" top=25 backend="" fe=0
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --secs) secs=${2:?}; shift 2 ;;  --size) size=${2:?}; shift 2 ;;
        --packed) packed=1; shift ;;     --out) out=${2:?}; shift 2 ;;
        --rx) rx=1; shift ;;             --frontend) fe=1; shift ;;
        --top) top=${2:?}; shift 2 ;;
        -*) help >&2; exit 2 ;;
        *) [ -z "$backend" ] || { help >&2; exit 2; }; backend=$1; shift ;;
    esac
done
[ -n "$backend" ] || { help >&2; exit 2; }
command -v perf >/dev/null || { echo "net-profile.sh: perf is not installed (linux-perf)" >&2; exit 1; }
vargs=()
[ "$packed" = 0 ] || vargs=(--vdev-opts packed_vq=1)
# The back-end's role and the front-end's mode for the direction measured.
if [ "$rx" = 1 ]; then
    beopt=(--source="$size") dpdkmode=(--mode txonly --txpkts "$size") vargs+=(--mode rxonly)
else
    beopt=(--sink) dpdkmode=()
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-net-prof.XXXXXX")
[ -n "$out" ] || out=$work
mkdir -p "$out"
be=""
cleanup() {
    if [ -n "$be" ]; then kill -INT -- "-$be" 2>/dev/null || true; wait "$be" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# pass MODE: run the back-end under `perf record` (MODE record) or `perf stat` (MODE stat) while
# the front-end sends for SECS + 2 s.  perf starts the back-end itself: attaching with -p fails in this
# machine's containers (another PID namespace: "<not counted>"), and -a cannot name their processes.
pass() {
    local mode=$1 sock=$work/$1.sock
    local -a perfcmd
    if [ "$mode" = record ]; then
        perfcmd=(perf record -e cpu-clock -g -o "$out/perf.data")
    else
        perfcmd=(perf stat -e "task-clock,context-switches,cpu-migrations" -o "$out/stat.txt")
    fi
    if [ "$backend" = dpdk ]; then
        setsid "${perfcmd[@]}" -- "$here/tests/harness/dpdk-vhost-sink.sh" "$sock" 0 --cpu 0 ${dpdkmode[@]+"${dpdkmode[@]}"} \
            >"$out/be-$mode.log" 2>&1 &
    else
        # shellcheck disable=SC2086  # the back-end's options are words
        setsid "${perfcmd[@]}" -- taskset -c 0 $backend --socket-path="$sock" "${beopt[@]}" --no-sandbox \
            >"$out/be-$mode.log" 2>&1 &
    fi
    be=$!
    local -a feperf=()
    [ "$fe" = 0 ] || [ "$mode" != record ] || feperf=(perf record -e cpu-clock -g -o "$out/perf-fe.data" --)
    ${feperf[@]+"${feperf[@]}"} "$here/tests/harness/dpdk-virtio-user.sh" "$sock" "$secs" "$size" --cpu 1 \
        ${vargs[@]+"${vargs[@]}"} >"$out/fe-$mode.out" 2>"$out/fe-$mode.log" || true
    kill -INT -- "-$be" 2>/dev/null || true # as Ctrl-C: perf writes its data once the back-end exited
    wait "$be" 2>/dev/null || true
    be=""
}

pass stat
pass record
echo "== front-end (stat pass): $(tr '\n' ' ' <"$out/fe-stat.out")"
echo "== front-end (record pass): $(tr '\n' ' ' <"$out/fe-record.out")"
# Totals over the back-end's life (start-up, SECS + ~2 s of traffic, exit): with -I, the counts of the
# worker threads would only show when they exit.
echo "== perf stat -e task-clock,context-switches,cpu-migrations (whole run, traffic SECS + ~2 s of it)"
grep -E 'task-clock|context-switches|cpu-migrations|elapsed' "$out/stat.txt" | tee "$out/stat-summary.txt"
# report DATA TXT: the top N of DATA by command, object and symbol, without the scripts' helper commands.
report() {
    perf report -i "$1" --no-children --stdio -g none --sort comm,dso,sym 2>/dev/null |
        grep -v '^#' | grep . | grep -v -E ' (bash|sleep|taskset|setsid|awk|sed|grep|cat|perf-exec|rm|mktemp|timeout) ' |
        head -n "$top" | tee "$2"
}
echo "== perf report --no-children (cpu-clock samples of the back-end's processes)"
report "$out/perf.data" "$out/report.txt"
if [ "$fe" = 1 ]; then
    echo "== perf report --no-children (cpu-clock samples of the front-end, testpmd)"
    report "$out/perf-fe.data" "$out/report-fe.txt"
fi
