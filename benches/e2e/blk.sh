#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# blk.sh - the block benchmark (issue 14): bench-blk-driver (a vhost-user-blk front-end with driver-side
# rings, benches/e2e/blk-driver.c) against cvmm-blk and qemu-storage-daemon's vhost-user-blk export, on
# the same disk, 4 KiB random reads and writes, queue depths and queue counts, tmpfs and a loop device.
# One table: IOPS median (min-max) and p50/p99 latency per case and back-end, and the ratio.
#
# usage: benches/e2e/blk.sh [--rounds N] [--window S] [--warmup S] [--qd "1 8 32 128"] [--queues "1 2"]
#                           [--rw "read write"] [--storage "tmpfs loop"] [--size-mb N] [--json FILE]
#                           [--plot FILE.svg|.png] [--smoke] [--bin CVMM_BLK] [--driver BENCH_BLK_DRIVER]
#                           [--build-dir DIR] [--cpus "BACKEND_CPU DRIVER_CPU"] [--keep]
# Defaults: 3 rounds of 5 s windows after 1 s of warm-up, every qd, queues, rw and storage, a 256 MiB
# disk, binaries from --build-dir (default <repo>/build/release, configured and built there if missing).
# Method: for each case the two back-ends run in turn, the order flipped every round (A B, B A, ...), each
# run a fresh back-end process pinned to the first CPU with taskset and the driver to the second; each
# back-end gets its best settings: cvmm-blk --aio=io_uring --direct --queue-depth (when its --help lists
# them), qemu-storage-daemon aio=io_uring with an iothread, cache.direct=on when the storage takes O_DIRECT.
# --smoke (CI): every case once, briefly (0.1 s), a 16 MiB disk, each back-end started once per storage and
# queue count (not once per run: the time budget); fails only when a case moved no request (or a
# back-end misbehaved: wrong data, length, id or status is an error, never a figure), never on speed.
# A run whose window saw no completion (a 0.1 s smoke window on a loaded machine) counts 0 IOPS; one that
# completed nothing at all, warm-up and drain included, fails.
# Exit: 0; 1 a run failed or moved nothing; 2 usage; 77 skipped (no qemu-storage-daemon, or loop storage
# asked without root / losetup).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
py=$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3) # Debian's, not a slow shim

rounds=3 window=5 warmup=1 qds="1 8 32 128" queues="1 2" rws="read write" storages="tmpfs loop" size_mb=256
json="" plot="" smoke=0 bin="" driver="" build="$repo/build/release" cpus="0 1" keep=0
usage() { sed -n '8,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=${2:?}; shift ;;
        --window) window=${2:?}; shift ;;
        --warmup) warmup=${2:?}; shift ;;
        --qd) qds=${2:?}; shift ;;
        --queues) queues=${2:?}; shift ;;
        --rw) rws=${2:?}; shift ;;
        --storage) storages=${2:?}; shift ;;
        --size-mb) size_mb=${2:?}; shift ;;
        --json) json=${2:?}; shift ;;
        --plot) plot=${2:?}; shift ;;
        --smoke) smoke=1 ;;
        --bin) bin=${2:?}; shift ;;
        --driver) driver=${2:?}; shift ;;
        --build-dir) build=${2:?}; shift ;;
        --cpus) cpus=${2:?}; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "blk.sh: unknown option $1" >&2; usage ;;
    esac
    shift
done
if [ "$smoke" = 1 ]; then rounds=1 window=0.1 warmup=0 size_mb=16; fi
for s in $storages; do [ "$s" = tmpfs ] || [ "$s" = loop ] || { echo "blk.sh: --storage tmpfs|loop" >&2; exit 2; }; done
for r in $rws; do [ "$r" = read ] || [ "$r" = write ] || { echo "blk.sh: --rw read|write" >&2; exit 2; }; done

say() { printf '[%6.1fs] blk.sh: %s\n' "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" "$*"; }
skip() { echo "blk.sh: SKIP: $*"; exit 77; }
t0=$EPOCHREALTIME

command -v qemu-storage-daemon >/dev/null || skip "qemu-storage-daemon not found (Debian: qemu-system-common)"
case " $storages " in *" loop "*)
    { [ "$(id -u)" = 0 ] && command -v losetup >/dev/null; } || skip "loop storage needs root and losetup" ;;
esac

# ---- binaries: given, or a Release build ----
if [ -z "$bin" ] || [ -z "$driver" ]; then
    if [ ! -x "$build/devices/blk/cvmm-blk" ] || [ ! -x "$build/benches/bench-blk-driver" ]; then
        say "building cvmm-blk and bench-blk-driver (Release) in $build"
        [ -f "$build/CMakeCache.txt" ] || cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
        cmake --build "$build" --target cvmm-blk bench-blk-driver -j "$(nproc)" >/dev/null
    fi
    bin=${bin:-$build/devices/blk/cvmm-blk}
    driver=${driver:-$build/benches/bench-blk-driver}
fi
if [ ! -x "$bin" ] || [ ! -x "$driver" ]; then echo "blk.sh: $bin or $driver is missing" >&2; exit 1; fi

read -r be_cpu drv_cpu <<<"$cpus"
pin_be=() pin_drv=()
if [ "$(nproc)" -ge 2 ]; then pin_be=(taskset -c "$be_cpu") pin_drv=(taskset -c "$drv_cpu"); fi

# cvmm-blk's options that exist in this build (another part adds them)
cvmm_help=$("$bin" --help 2>&1 || true)
has_opt() { grep -q -- "--$1" <<<"$cvmm_help"; }
max_qd=1
for q in $qds; do [ "$q" -gt "$max_qd" ] && max_qd=$q; done

# ---- temp dir, storage, cleanup ----
tmp=$(mktemp -d /dev/shm/cvmm-blkbench.XXXXXX)
ltmp=""
loopdev=""
cleanup() {
    local p
    for p in "${be_pids[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    [ -n "$loopdev" ] && losetup -d "$loopdev" 2>/dev/null
    if [ "$keep" = 1 ]; then echo "blk.sh: kept $tmp ${ltmp}"; else rm -rf "$tmp" ${ltmp:+"$ltmp"}; fi
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# prepare STORAGE: sets disk (a file or the loop device) with the driver's pattern, and direct (0/1)
prepare() {
    local f
    if [ "$1" = tmpfs ]; then
        disk=$tmp/disk
        "$driver" --make-file "$disk" --size "${size_mb}M" >/dev/null
    else
        ltmp=$(mktemp -d "${TMPDIR:-/var/tmp}/cvmm-blkbench.XXXXXX")
        f=$ltmp/disk
        "$driver" --make-file "$f" --size "${size_mb}M" >/dev/null
        loopdev=$(losetup --direct-io=on -f --show "$f") || { echo "blk.sh: losetup failed" >&2; exit 1; }
        disk=$loopdev
    fi
    direct=0
    dd if="$disk" of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null && direct=1
    say "$1: $disk (${size_mb} MiB$([ "$direct" = 1 ] && echo ", O_DIRECT works"))"
}
release() {
    if [ -n "$loopdev" ]; then losetup -d "$loopdev"; loopdev=""; fi
    rm -rf "$ltmp" "$tmp/disk"
    ltmp=""
}

# be_cmd BACKEND NQUEUES SOCKET: the back-end's command line in be[]
be_cmd() {
    if [ "$1" = cvmm-blk ]; then
        be=("$bin" "--socket-path=$3" "--blk-file=$disk" "--num-queues=$2")
        has_opt aio && be+=(--aio=io_uring)
        has_opt queue-depth && be+=("--queue-depth=$max_qd")
        if has_opt direct && [ "$direct" = 1 ]; then be+=(--direct); fi
    else
        local drv=file
        [ -b "$disk" ] && drv=host_device
        be=(qemu-storage-daemon --object "iothread,id=iot0"
            --blockdev "driver=$drv,node-name=disk0,filename=$disk,aio=io_uring,cache.direct=$([ "$direct" = 1 ] && echo on || echo off)"
            --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$3,writable=on,num-queues=$2,iothread=iot0")
    fi
}

# be_start BACKEND NQUEUES: start it (pinned) on $tmp/BACKEND.sock and wait for the socket.  Return: 1 failed.
declare -A be_pids=()
be_start() {
    local b=$1 sock=$tmp/$1.sock i
    rm -f "$sock"
    be_cmd "$b" "$2" "$sock"
    "${pin_be[@]}" "${be[@]}" >"$tmp/$b.log" 2>&1 &
    be_pids[$b]=$!
    for ((i = 0; i < 600; i++)); do # 30 s
        [ -S "$sock" ] && return 0
        kill -0 "${be_pids[$b]}" 2>/dev/null || break
        sleep 0.05
    done
    echo "blk.sh: $b did not start: ${be[*]}" >&2
    sed 's/^/  be| /' "$tmp/$b.log" >&2
    failed=1
    be_stop "$b"
    return 1
}
be_stop() {
    local pid=${be_pids[$1]:-} i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "be_pids[$1]"
}

# measure CASE BACKEND RW NQUEUES QD: one run of the driver against the running back-end, appended to
# $tmp/runs.tsv
failed=0
measure() {
    local case=$1 b=$2 rw=$3 nq=$4 qd=$5 out=$tmp/out rc=0 line
    "${pin_drv[@]}" "$driver" --socket "$tmp/$b.sock" --rw "$rw" --qd "$qd" --queues "$nq" --window "$window" \
        --warmup "$warmup" --label "$b" >"$out" 2>&1 || rc=$?
    line=$(grep '^RESULT ' "$out" || true)
    if [ "$rc" != 0 ] || [ -z "$line" ]; then
        echo "blk.sh: $case $b: the driver failed (exit $rc):" >&2
        sed 's/^/  | /' "$out" >&2
        tail -n 5 "$tmp/$b.log" | sed 's/^/  be| /' >&2
        failed=1
    elif [ "$(sed -n 's/.* checked=\([0-9]*\).*/\1/p' <<<"$line")" = 0 ]; then
        echo "blk.sh: $case $b: no request completed at all" >&2
        failed=1
    else
        awk -v c="$case" -v b="$b" '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%s\t%s\t%s\t%s\t%s\n", c, b, v["iops"], v["p50_us"], v["p99_us"] }' <<<"$line" >>"$tmp/runs.tsv"
        line=$(grep -v '^RESULT' "$out" | tail -n 1)
        [ "$smoke" = 1 ] || say "$case $b: ${line#bench-blk-driver: }"
    fi
}

date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1 /proc/loadavg)
: >"$tmp/runs.tsv"
backends=(cvmm-blk qemu-storage-daemon)
say "rounds $rounds, window ${window}s after ${warmup}s, qd [$qds], queues [$queues], rw [$rws], storage [$storages]"
say "cvmm-blk: $bin; driver: $driver; back-end on CPU $be_cpu, driver on CPU $drv_cpu"
for st in $storages; do
    prepare "$st"
    for nq in $queues; do
        if [ "$smoke" = 1 ]; then # both back-ends stay up for the group (the time budget), one run each
            for b in "${backends[@]}"; do be_start "$b" "$nq" || true; done
        fi
        for rw in $rws; do
            for qd in $qds; do
                case="$st $rw q$nq qd$qd"
                for ((r = 0; r < rounds; r++)); do
                    if ((r % 2 == 0)); then order=("${backends[@]}"); else order=("${backends[1]}" "${backends[0]}"); fi
                    for b in "${order[@]}"; do
                        if [ "$smoke" = 1 ]; then
                            [ -z "${be_pids[$b]:-}" ] || measure "$case" "$b" "$rw" "$nq" "$qd"
                        elif be_start "$b" "$nq"; then
                            measure "$case" "$b" "$rw" "$nq" "$qd"
                            be_stop "$b"
                        fi
                    done
                done
            done
        done
        for b in "${backends[@]}"; do be_stop "$b"; done
    done
    release
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
method="bench-blk-driver (4 KiB random I/O, QD per queue, one thread per queue waiting on its call eventfd) pinned to CPU $drv_cpu, each back-end a fresh process on CPU $be_cpu; $rounds round(s) of ${window} s windows after ${warmup} s warm-up, back-ends alternating (order flipped each round) on the same disk; cvmm-blk$(has_opt aio && echo ' --aio=io_uring')$(has_opt direct && echo ' --direct when O_DIRECT works'), qemu-storage-daemon aio=io_uring + iothread, cache.direct=on when O_DIRECT works"
[ "$smoke" = 1 ] && method="SMOKE run (figures meaningless; each back-end started once per storage and queue count): $method"
"$py" - "$tmp/meta.json" <<EOF
import json, sys
json.dump({"bench": "blk-e2e", "date": "$date_utc",
           "machine": {"cpu": """$cpu""", "cores": $(nproc), "kernel": "$(uname -r)",
                       "load1_start": $load_start, "load1_end": $load_end},
           "method": """$method""", "backends": ["cvmm-blk", "qemu-storage-daemon"]}, open(sys.argv[1], "w"))
EOF
out_json=$json
[ -z "$out_json" ] && [ -n "$plot" ] && out_json=$tmp/results.json
echo
"$py" "$here/blk-summary.py" "$tmp/runs.tsv" "$tmp/meta.json" ${out_json:+"$out_json"}
echo "machine: $cpu, $(nproc) cores, $(uname -r), load $load_start -> $load_end"
[ -n "$json" ] && say "results: $json"
if [ -n "$plot" ]; then
    if [ -x "$here/plot.sh" ]; then
        bash "$here/plot.sh" "$out_json" "$plot" && say "plot: $plot"
    else
        say "no benches/e2e/plot.sh yet: no plot"
    fi
fi
# Every case must have moved requests for both back-ends.
expected=$(($(wc -w <<<"$storages") * $(wc -w <<<"$rws") * $(wc -w <<<"$queues") * $(wc -w <<<"$qds") * 2 * rounds))
got=$(wc -l <"$tmp/runs.tsv")
if [ "$failed" != 0 ] || [ "$got" != "$expected" ]; then
    echo "blk.sh: FAIL: $got of $expected runs gave a figure" >&2
    exit 1
fi
say "done: $got runs"
