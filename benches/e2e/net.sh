#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# net.sh - the end-to-end net benchmark (issue 14): DPDK virtio-user against cvmm-net and against DPDK's
# own vhost back-end, both directions, alternating, one table.  See --help and benches/README.md.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
harness=${CVMM_HARNESS:-$root/tests/harness}

help() {
    cat <<'EOT'
usage: benches/e2e/net.sh [options]

DPDK testpmd's virtio-user (tests/harness/dpdk-virtio-user.sh, CPU 1) against each back-end (CPU 0):
  tx  virtio-user txonly -> cvmm-net --sink        and -> DPDK net_vhost rxonly (dpdk-vhost-sink.sh)
  rx  virtio-user rxonly <- cvmm-net --source=SIZE and <- DPDK net_vhost txonly
The rate is testpmd's own (virtio-user side) over a window after a warm-up, the same meter for every
back-end.  Each round runs every case once per back-end, back-ends in turn (cvmm, dpdk, cvmm, ...);
the table gives median (min-max) over the rounds in Mpps and Gbit/s, and cvmm/dpdk of the medians.
  --rounds N         rounds (3)                      --window S     seconds per measurement (5)
  --sizes L          frame sizes, comma-separated (64,1500; 42..2000)
  --cases L          of tx-split,tx-packed,rx-split,rx-packed (all)
  --bin PATH         cvmm-net (default: build/release, build/dev, then PATH)
  --cvmm-opts "O"    more cvmm-net options for the back-end "cvmm-net" (e.g. "--busy-poll=50")
  --variant N="O"    one more cvmm-net back-end "cvmm-net:N" with options O (repeatable)
  --no-dpdk          leave DPDK's back-end out (then no ratio)
  --json FILE        results in the shared schema (benches/README.md)
  --plot FILE        .svg or .png through benches/e2e/plot.sh (writes a JSON file too)
  --smoke            every case once, 1 s windows, no warm-up (CI): fails only when some case moved
                     no traffic at all, never on speed; DPDK's own pair (the reference, no cvmm code)
                     may stall in a case on a loaded machine (seen: one ring's worth, then nothing):
                     reported, a failure only when it moved no traffic in any case
  --cpus B,F         back-end and virtio-user CPUs (0,1)   --warmup S (1)
  --mem MB, --mbufs N  each testpmd's memory and mbuf pool (256, 16384: starts ~4x faster than
                     testpmd's default pool of ~160k mbufs; a ring of 256 needs a few thousand)
  --keep             keep the logs directory (printed)
Exit: 0; 1 a run moved no traffic (or failed); 2 usage; 77 DPDK's testpmd is not installed.
EOT
}

rounds=3 window=5 warmup=1 sizes=64,1500 cases=tx-split,tx-packed,rx-split,rx-packed bin="" cvmm_opts=""
json="" plot="" smoke=0 becpu=0 fecpu=1 mem=256 nmbufs=16384 keep=0 dpdk=1
variants=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --rounds) rounds=${2:?}; shift 2 ;;       --window) window=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;       --sizes) sizes=${2:?}; shift 2 ;;
        --cases) cases=${2:?}; shift 2 ;;         --bin) bin=${2:?}; shift 2 ;;
        --cvmm-opts) cvmm_opts=${2?}; shift 2 ;;  --variant) variants+=("${2:?}"); shift 2 ;;
        --json) json=${2:?}; shift 2 ;;           --plot) plot=${2:?}; shift 2 ;;
        --smoke) smoke=1; shift ;;                --mem) mem=${2:?}; shift 2 ;;
        --mbufs) nmbufs=${2:?}; shift 2 ;;
        --cpus) becpu=${2%%,*}; fecpu=${2##*,}; shift 2 ;;
        --keep) keep=1; shift ;;                  --no-dpdk) dpdk=0; shift ;;
        *) help >&2; echo "net.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ "$smoke" = 1 ]; then rounds=1 window=1 warmup=0; fi
num() { [[ $2 =~ ^[0-9]+$ ]] || { echo "net.sh: $1 must be a whole number: $2" >&2; exit 2; }; }
num --rounds "$rounds"; num --window "$window"; num --warmup "$warmup"; num --mem "$mem"
num --mbufs "$nmbufs"; num --cpus "$becpu"; num --cpus "$fecpu"
[ "$rounds" -ge 1 ] && [ "$window" -ge 1 ] || { echo "net.sh: --rounds and --window must be >= 1" >&2; exit 2; }
IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a case_list <<<"$cases"
for s in "${size_list[@]}"; do
    num --sizes "$s"
    [ "$s" -ge 42 ] && [ "$s" -le 2000 ] || { echo "net.sh: frame sizes are 42..2000: $s" >&2; exit 2; }
done
for c in "${case_list[@]}"; do
    case $c in tx-split|tx-packed|rx-split|rx-packed) ;; *) echo "net.sh: unknown case $c" >&2; exit 2 ;; esac
done
# Back-ends: "cvmm-net" (with --cvmm-opts), each variant, then DPDK.
be_names=(cvmm-net) be_opts=("$cvmm_opts")
for v in ${variants[@]+"${variants[@]}"}; do
    [[ $v == *=* ]] && [ -n "${v%%=*}" ] || { echo "net.sh: --variant wants NAME=\"OPTIONS\": $v" >&2; exit 2; }
    be_names+=("cvmm-net:${v%%=*}") be_opts+=("${v#*=}")
done
[ "$dpdk" = 0 ] || { be_names+=(dpdk); be_opts+=(""); }

if [ -z "$bin" ]; then
    for b in "$root/build/release/devices/net/cvmm-net" "$root/build/dev/devices/net/cvmm-net" "$(command -v cvmm-net || true)"; do
        [ -n "$b" ] && [ -x "$b" ] && { bin=$b; break; }
    done
fi
[ -n "$bin" ] && [ -x "$bin" ] || { echo "net.sh: no cvmm-net binary: build it or pass --bin PATH" >&2; exit 2; }
command -v dpdk-testpmd >/dev/null || { echo "net.sh: skipped: DPDK's dpdk-testpmd is not installed (scripts/install-deps.sh)" >&2; exit 77; }
py=/usr/bin/python3
[ -x "$py" ] || py=python3 # pyenv shims start slowly (tests/harness/README.md)

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-netbench.XXXXXX")
bepid=""
cleanup() {
    if [ -n "$bepid" ]; then kill -TERM "$bepid" 2>/dev/null || true; sleep 2; kill -KILL -- "-$bepid" 2>/dev/null || true; fi
    if [ "$keep" = 1 ]; then echo "net.sh: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

load1() { cut -d' ' -f1 /proc/loadavg; }
started=$(date -u +%Y-%m-%dT%H:%M:%SZ) load_start=$(load1)
dpdk_version=$(dpkg-query -W -f='${Version}' dpdk-dev 2>/dev/null || echo unknown)
echo "net.sh: $bin vs DPDK $dpdk_version; back-end CPU $becpu, virtio-user CPU $fecpu; $rounds round(s) of ${window}s windows (${warmup}s warm-up); load $load_start" >&2

# Start back-end $1 (index into be_names) for direction $2 and frame size $3 on $sock; sets bepid.
# Return: 0 serving; 1 it did not come up (its log says why).
be_start() {
    local i=$1 dir=$2 size=$3 log=$4 extra=()
    rm -f "$sock"
    if [ "${be_names[$i]}" = dpdk ]; then
        local mode=rxonly
        [ "$dir" = rx ] && mode=txonly
        setsid "$harness/dpdk-vhost-sink.sh" "$sock" --mode "$mode" --txpkts "$size" --cpu "$becpu" --mem "$mem" \
            --mbufs "$nmbufs" >"$log" 2>&1 &
        bepid=$!
        for _ in $(seq 600); do
            grep -q '^listening' "$log" && return 0
            kill -0 "$bepid" 2>/dev/null || return 1
            sleep 0.1
        done
        return 1
    fi
    [ "$dir" = tx ] && extra=(--sink) || extra=("--source=$size")
    # shellcheck disable=SC2206 # the options are words on purpose
    local opts=(${be_opts[$i]})
    setsid taskset -c "$becpu" "$bin" "--socket-path=$sock" "${extra[@]}" ${opts[@]+"${opts[@]}"} >"$log" 2>&1 &
    bepid=$!
    for _ in $(seq 300); do
        [ -S "$sock" ] && return 0
        kill -0 "$bepid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Stop the back-end with SIGTERM (both exit 0 on it; a background script ignores SIGINT); after 60 s its
# whole process group (setsid: testpmd and the script's reader too) is killed.  Return: its exit status.
be_stop() {
    local rc=0
    kill -TERM "$bepid" 2>/dev/null || true
    for _ in $(seq 600); do kill -0 "$bepid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$bepid" 2>/dev/null || true
    wait "$bepid" || rc=$?
    bepid=""
    return "$rc"
}

# run_total I BE_LOG: frames back-end I moved in the $dir direction over its whole run (its exit lines:
# cvmm-net's "<dir>_packets=N", DPDK net_vhost's "rx_packets=N tx_packets=M", its rx being virtio-user's tx).
run_total() {
    if [ "${be_names[$1]}" = dpdk ]; then
        local field=rx_packets
        [ "$dir" = rx ] && field=tx_packets
        sed -n "s/^rx_packets=.*/&/p" "$2" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$field=//p"
    else
        sed -n "s/^cvmm-net: [a-z]* .*${dir}_packets=\([0-9]*\).*/\1/p" "$2" | tail -n 1
    fi
}

sock=$work/net.sock
runs=$work/runs.tsv
: >"$runs"
failures=0 n=0 ref_moved=0 ref_stalled=0
total=$((rounds * ${#case_list[@]} * ${#size_list[@]} * ${#be_names[@]}))
for r in $(seq "$rounds"); do
    for c in "${case_list[@]}"; do
        dir=${c%%-*} layout=${c##*-}
        for s in "${size_list[@]}"; do
            name="$dir ${s}B $layout"
            for i in "${!be_names[@]}"; do
                n=$((n + 1))
                be=${be_names[$i]} tag="r${r}-${dir}-${s}-${layout}-${i}"
                vu=(--cpu "$fecpu" --warmup "$warmup" --mem "$mem" --mbufs "$nmbufs" --mode "${dir}only")
                [ "$layout" = packed ] && vu+=(--vdev-opts packed_vq=1)
                mpps=0 gbps=0 note="" info=""
                if be_start "$i" "$dir" "$s" "$work/$tag.be.log"; then
                    if "$harness/dpdk-virtio-user.sh" "$sock" "$window" "$s" "${vu[@]}" >"$work/$tag.vu.log" 2>&1; then
                        mpps=$(sed -n 's/^[rt]xonly_mpps=//p' "$work/$tag.vu.log")
                        gbps=$(sed -n 's/^[rt]x_gbps=//p' "$work/$tag.vu.log")
                    else
                        note="virtio-user failed"
                    fi
                    be_stop "$i" || note="${note:+$note; }back-end exit status $?"
                else
                    note="back-end did not start"
                    be_stop "$i" || true
                fi
                ! grep -qE 'ERROR: [A-Za-z]*Sanitizer|runtime error:' "$work/$tag.be.log" || note="${note:+$note; }sanitizer report"
                # the back-end's own count: what it took (tx) or filled (rx) over the whole run
                counted=$(run_total "$i" "$work/$tag.be.log")
                if ! awk -v m="${mpps:-0}" 'BEGIN { exit !(m > 0) }'; then
                    note="${note:-no traffic}"
                    mpps=0 gbps=0
                    # --smoke: a 1 s window that saw nothing, or too little to show in Mpps (a loaded
                    # machine), is speed, not a fault, when testpmd's counters were read and the back-end
                    # moved frames over the whole run.
                    if [ "$smoke" = 1 ] && { [ "$note" = "virtio-user failed" ] || [ "$note" = "no traffic" ]; } &&
                        [ "${counted:-0}" -gt 0 ] &&
                        grep -qE '^(rx|tx)_packets=' "$work/$tag.vu.log"; then
                        note="" info="  (under 0.001 Mpps in the window; $counted frames in the run)"
                    elif [ "$smoke" = 1 ] && [ "$be" = dpdk ] && [ "$note" = "no traffic" ]; then
                        note="" info="  (DPDK's own pair stalled: ${counted:-0} frames in the run; reference only)"
                        ref_stalled=$((ref_stalled + 1))
                    fi
                elif [ "$be" = dpdk ]; then
                    ref_moved=$((ref_moved + 1))
                fi
                [ -z "$note" ] || { failures=$((failures + 1)); tail -n 5 "$work/$tag.vu.log" "$work/$tag.be.log" >&2 || true; }
                printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$be" "$mpps" "${gbps:-0}" "${counted:-}" "$note" >>"$runs"
                printf 'net.sh: [%d/%d] round %d  %-16s %-18s %8s Mpps %8s Gbit/s%s\n' "$n" "$total" "$r" "$name" "$be" \
                    "$mpps" "${gbps:-0}" "${note:+  ($note)}$info" >&2
            done
        done
    done
done
load_end=$(load1)

method="DPDK $dpdk_version testpmd virtio-user (CPU $fecpu; txonly into the back-end, rxonly from it) against each back-end (CPU $becpu, taskset; cvmm-net --sink / --source=SIZE, DPDK net_vhost rxonly / txonly), each testpmd with ${mem} MB and ${nmbufs} mbufs, testpmd's rate over ${window}-s windows after ${warmup}-s warm-up, $rounds round(s), back-ends alternating within each case, median (min-max)"
[ -n "$plot" ] && [ -z "$json" ] && json=$work/net-e2e.json
"$py" - "$runs" "$started" "$load_start" "$load_end" "$method" "$json" <<'PY'
import json, statistics, sys
runs, started, l0, l1, method, out = sys.argv[1:7]
rows = [l.rstrip("\n").split("\t") for l in open(runs) if l.strip()]
cases, backends, data = [], [], {}
for case, be, mpps, gbps, counted, note in rows:
    if case not in cases: cases.append(case)
    if be not in backends: backends.append(be)
    d = data.setdefault((case, be), {"mpps": [], "gbps": [], "counted": [], "notes": []})
    d["mpps"].append(float(mpps)); d["gbps"].append(float(gbps))
    if counted: d["counted"].append(int(counted))
    if note: d["notes"].append(note)
def mmm(v): return statistics.median(v), min(v), max(v)
fmt = lambda v: "%.3f (%.3f-%.3f)" % mmm(v)
print("%-16s %-18s %-22s %-22s %s" % ("case", "backend", "Mpps median (min-max)", "Gbit/s median (min-max)", "cvmm/dpdk"))
results = []
for case in cases:
    ref = data.get((case, "dpdk"))
    for be in backends:
        d = data.get((case, be))
        if not d: continue
        m = mmm(d["mpps"])
        ratio = ""
        extra = {"gbps": dict(zip(("median", "min", "max"), mmm(d["gbps"])), runs=d["gbps"])}
        if be != "dpdk" and ref and statistics.median(ref["mpps"]) > 0:
            r = m[0] / statistics.median(ref["mpps"])
            ratio = "%.2f" % r
            extra["ratio_vs_dpdk"] = round(r, 3)
        if d["counted"]: extra["backend_counted"] = d["counted"]
        if d["notes"]: extra["failures"] = d["notes"]
        spread = "" if m[0] == 0 else "  spread %.0f%%" % (100 * (m[2] - m[1]) / m[0])
        print("%-16s %-18s %-22s %-22s %s" % (case, be, fmt(d["mpps"]), fmt(d["gbps"]), ratio + spread))
        results.append({"case": case, "backend": be, "unit": "Mpps", "median": m[0], "min": m[1], "max": m[2],
                        "runs": d["mpps"], "extra": extra})
if out:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown")
    import os
    doc = {"bench": "net-e2e", "date": started,
           "machine": {"cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release,
                       "load1_start": float(l0), "load1_end": float(l1)},
           "method": method, "results": results}
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
PY
[ -z "$json" ] || [ "$json" = "$work/net-e2e.json" ] || echo "net.sh: results in $json" >&2
if [ -n "$plot" ]; then
    if [ -x "$here/plot.sh" ]; then
        "$here/plot.sh" "$json" "$plot" && echo "net.sh: plot in $plot" >&2 || echo "net.sh: plot.sh failed ($plot not drawn)" >&2
    else
        echo "net.sh: $here/plot.sh is missing: no plot (the JSON is $json)" >&2
    fi
fi
echo "net.sh: load $load_start at the start, $load_end at the end" >&2
if [ "$ref_stalled" -gt 0 ]; then
    echo "net.sh: DPDK's own pair stalled in $ref_stalled case(s) and moved traffic in $ref_moved" >&2
    [ "$ref_moved" -gt 0 ] || { echo "net.sh: DPDK's pair never moved traffic: its set-up is broken" >&2; failures=$((failures + 1)); }
fi
if [ "$failures" -gt 0 ]; then
    echo "net.sh: FAIL: $failures run(s) moved no traffic or failed (see above)" >&2
    exit 1
fi
