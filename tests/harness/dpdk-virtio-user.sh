#!/usr/bin/env bash
# dpdk-virtio-user.sh - DPDK testpmd as a vhost-user net FRONT-END (net_virtio_user, no VM) sending txonly
# traffic to the back-end at SOCK (or receiving, rxonly), and the rate it reached. See --help.
set -euo pipefail
H_NAME=dpdk-virtio-user
H_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$H_DIR/common.sh"

help() {
    cat <<'EOT'
usage: dpdk-virtio-user.sh SOCK SECONDS [PKT_SIZE] [options]

dpdk-testpmd --vdev net_virtio_user0,path=SOCK (EAL --no-huge) in txonly mode: frames of PKT_SIZE bytes
(42..9000, default 64) go to the back-end listening on SOCK (it waits up to 30 s for SOCK to appear).
After testpmd's prompt and a warm-up it reads the port statistics, waits SECONDS, reads them again, and
prints testpmd's own rate over that window (from TSC cycles between the two readings):
  tx_packets=<n> tx_dropped_total=<n> window_s=<s> pkt_size=<n>
  tx_gbps=<x>
  txonly_mpps=<x>
With --mode rxonly it receives instead (the back-end sends, e.g. cvmm-net --source=SIZE or
dpdk-vhost-sink.sh --mode txonly) and prints, PKT_SIZE being the size the Gbit/s figure assumes:
  rx_packets=<n> rx_bytes=<n> window_s=<s> pkt_size=<n>
  rx_gbps=<x>
  rxonly_mpps=<x>
  --mode M       txonly (default) or rxonly
  --cpu N        host CPU for testpmd's two lcores (default 1)
  --server       virtio-user listens on SOCK (server=1) and the back-end connects
  --vdev-opts S  more net_virtio_user arguments (e.g. packed_vq=1)
  --burst N (32)   --mem MB (1024)   --warmup S (1)   --log FILE (testpmd's whole output)
  --mbufs N      mbufs in testpmd's pool (default: testpmd's ~160k; 16384 starts several times faster)
Exit status 0; 1 when testpmd did not come up or sent (rxonly: received) nothing. A full ring counts as
a drop in txonly, so tx_dropped_total is large whenever the back-end is the bottleneck.
EOT
}

mode=txonly cpu=1 server=0 vopts="" burst=32 mem=1024 warmup=1 logf="" nmbufs="" args=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --mode) mode=${2:?}; shift 2 ;;
        --cpu) cpu=${2:?}; shift 2 ;;          --server) server=1; shift ;;
        --vdev-opts) vopts=${2:?}; shift 2 ;;  --burst) burst=${2:?}; shift 2 ;;
        --mem) mem=${2:?}; shift 2 ;;          --warmup) warmup=${2:?}; shift 2 ;;
        --log) logf=${2:?}; shift 2 ;;         --mbufs) nmbufs=${2:?}; shift 2 ;;
        -*) help >&2; h_die "unknown option $1" ;;
        *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} -ge 2 ] && [ ${#args[@]} -le 3 ] || { help >&2; exit 2; }
sock=${args[0]} secs=${args[1]} size=${args[2]:-64}
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] || h_die "SECONDS must be a whole number >= 1"
[[ $size =~ ^[0-9]+$ ]] && [ "$size" -ge 42 ] && [ "$size" -le 9000 ] || h_die "PKT_SIZE must be 42..9000"
case $mode in txonly|rxonly) ;; *) h_die "--mode must be txonly or rxonly" ;; esac
h_pkgs dpdk-dev librte-net-virtio23 librte-mempool-ring23

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-virtio-user.XXXXXX")
prefix=cvmmvu$$
out=${logf:-$work/testpmd.log}
tp=""
finish() {
    exec 3>&- 2>/dev/null || true
    if [ -n "$tp" ] && kill -INT "$tp" 2>/dev/null; then sleep 1; kill -KILL "$tp" 2>/dev/null || true; fi
    rm -rf "$work"
    rmdir "/var/run/dpdk/$prefix" 2>/dev/null || true
}
trap finish EXIT
if [ "$server" = 0 ]; then
    for _ in $(seq 300); do [ ! -S "$sock" ] || break; sleep 0.1; done
    [ -S "$sock" ] || h_die "no vhost-user socket $sock after 30 s (start the back-end first)"
fi
# Frames above 2 KiB need bigger mbufs, and fewer of them to stay within --mem; testpmd checks --txpkts
# against the mbuf size while parsing, so these options come first.
mbufs=()
[ "$size" -le 2048 ] || mbufs=(--mbuf-size=$((size + 128)) --total-num-mbufs=$((mem * 1024 * 1024 / 2 / (size + 512))))
[ -z "$nmbufs" ] || mbufs=(${mbufs[@]+"${mbufs[0]}"} --total-num-mbufs="$nmbufs")
vdev="net_virtio_user0,path=$sock,queues=1,queue_size=256"
[ "$server" = 0 ] || vdev="$vdev,server=1"
tpcmd=(dpdk-testpmd --lcores "0@$cpu,1@$cpu" --no-huge -m "$mem" --no-pci --no-shconf --no-telemetry
       --file-prefix="$prefix" --vdev "$vdev${vopts:+,$vopts}"
       -- -i --auto-start --forward-mode="$mode" --nb-cores=1 ${mbufs[@]+"${mbufs[@]}"}
       --txpkts="$size" --burst="$burst")
h_say "testpmd: ${tpcmd[*]}"
mkfifo "$work/stdin"
"${tpcmd[@]}" <"$work/stdin" >"$out" 2>&1 &
tp=$!
exec 3>"$work/stdin"
up=0
for _ in $(seq 600); do
    if grep -q 'testpmd> ' "$out" 2>/dev/null; then up=1; break; fi
    kill -0 "$tp" 2>/dev/null || break
    sleep 0.1
done
if [ "$up" = 0 ] || grep -q 'No probed ethernet devices' "$out"; then
    h_say "testpmd did not come up; the end of its output:"
    tail -n 20 "$out" >&2
    exit 1
fi
h_say "${mode/txonly/sending}; ${warmup}s warm-up, then a ${secs}s window"
sleep "$warmup"
echo "show port stats 0" >&3
sleep "$secs"
printf '%s\n' "show port stats 0" stop quit >&3
exec 3>&-
for _ in $(seq 150); do kill -0 "$tp" 2>/dev/null || break; sleep 0.1; done
kill -INT "$tp" 2>/dev/null || true
wait "$tp" 2>/dev/null || true
tp=""
if [ "$mode" = rxonly ]; then
    awk -v size="$size" -v secs="$secs" '
        /^ *RX-packets:/ && /RX-bytes/ { rx[++nrx] = $2; by[nrx] = $6 }
        /^ *Rx-pps:/ { pps[++npps] = $2 }
        END {
            if (nrx < 2 || npps < 2) { print "parse_error=1"; exit 1 }
            printf "rx_packets=%d rx_bytes=%d window_s=%d pkt_size=%d\n", rx[nrx] - rx[nrx - 1], by[nrx] - by[nrx - 1], secs, size
            printf "rx_gbps=%.3f\n", pps[npps] * size * 8 / 1e9
            if (pps[npps] == 0) exit 2
            printf "rxonly_mpps=%.3f\n", pps[npps] / 1e6
        }' "$out" || { h_say "testpmd received nothing, or its output was not understood; its end:"; tail -n 30 "$out" >&2; exit 1; }
    exit 0
fi
awk -v size="$size" -v secs="$secs" '
    /^ *TX-packets:/ && /TX-errors/ { tx[++ntx] = $2 }
    /^ *TX-packets:/ && /TX-dropped/ { dropped = $4 }
    /^ *Tx-pps:/ { pps[++npps] = $2 }
    END {
        if (ntx < 2 || npps < 2) { print "parse_error=1"; exit 1 }
        printf "tx_packets=%d tx_dropped_total=%d window_s=%d pkt_size=%d\n", tx[ntx] - tx[ntx - 1], dropped, secs, size
        printf "tx_gbps=%.3f\n", pps[npps] * size * 8 / 1e9
        if (pps[npps] == 0) exit 2
        printf "txonly_mpps=%.3f\n", pps[npps] / 1e6
    }' "$out" || { h_say "testpmd sent nothing, or its output was not understood; its end:"; tail -n 30 "$out" >&2; exit 1; }
