#!/usr/bin/env bash
# dpdk-vhost-sink.sh - DPDK testpmd as a vhost-user net BACK-END (net_vhost), without hugepages: the
# reference back-end our net tests and benchmarks compare with. See --help.
set -euo pipefail
H_NAME=dpdk-vhost-sink
H_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$H_DIR/common.sh"

help() {
    cat <<'EOT'
usage: dpdk-vhost-sink.sh SOCK [SECONDS] [options]

dpdk-testpmd --vdev net_vhost0,iface=SOCK with EAL --no-huge (its memory is then a memfd, which vhost-user
can share). It creates SOCK and waits for a front-end (QEMU, DPDK virtio-user), unless --client. It runs
SECONDS (0 or none: until SIGINT/SIGTERM).
  --mode M       forwarding mode: rxonly (default: count and drop), icmpecho (answers ARP and ping),
                 io or macswap (send back), txonly (send frames of --txpkts bytes as fast as the
                 front-end posts receive buffers: the reference for cvmm-net --source)
  --txpkts N     frame size in txonly mode (default 64)
  --cpu N        host CPU for testpmd's two lcores (default 0)
  --client       connect to SOCK (client=1) instead of listening
  --queues N     queue pairs (1)          --vdev-opts S   more net_vhost arguments
  --mem MB       DPDK memory (1024)       --period S      statistics period (1)
  --log FILE     testpmd's whole output    --mbufs N       mbufs in the pool (default: testpmd's ~160k)
stdout: "listening SOCK" (or "connecting to SOCK"), "front-end connected", "front-end disconnected",
  t=<s> rx_pkts=<n> rx_pps=<n> rx_mpps=<x> tx_pkts=<n> tx_mpps=<x>     each period while counters move,
and at the end "rx_packets=<n> tx_packets=<n>", "rxonly_mpps=<mean rate of the busy periods without
the first and the last>" and "txonly_mpps=<the same for sending>". The socket appears 1.5-2.5 s after
start (testpmd builds its mbuf pool first).
Exit status 0; 1 when testpmd did not start.
EOT
}

mode=rxonly cpu=0 client=0 queues=1 vopts="" mem=1024 period=1 logf="" txpkts=64 nmbufs="" args=()
while [ $# -gt 0 ]; do
    case $1 in
        -h|--help) help; exit 0 ;;
        --mode) mode=${2:?}; shift 2 ;;        --cpu) cpu=${2:?}; shift 2 ;;
        --client) client=1; shift ;;           --queues) queues=${2:?}; shift 2 ;;
        --vdev-opts) vopts=${2:?}; shift 2 ;;  --mem) mem=${2:?}; shift 2 ;;
        --period) period=${2:?}; shift 2 ;;    --log) logf=${2:?}; shift 2 ;;
        --txpkts) txpkts=${2:?}; shift 2 ;;    --mbufs) nmbufs=${2:?}; shift 2 ;;
        -*) help >&2; h_die "unknown option $1" ;;
        *) args+=("$1"); shift ;;
    esac
done
[ ${#args[@]} -ge 1 ] && [ ${#args[@]} -le 2 ] || { help >&2; exit 2; }
sock=${args[0]} secs=${args[1]:-0}
[[ $txpkts =~ ^[0-9]+$ ]] && [ "$txpkts" -ge 42 ] && [ "$txpkts" -le 2000 ] || h_die "--txpkts must be 42..2000"
h_pkgs dpdk-dev librte-net-vhost23 librte-mempool-ring23

work=$(mktemp -d "${TMPDIR:-/tmp}/cvmm-vhost-sink.XXXXXX")
prefix=cvmmsink$$
out=${logf:-$work/testpmd.log}
tp=""
finish() {
    if [ -n "$tp" ] && kill -INT "$tp" 2>/dev/null; then sleep 1; kill -KILL "$tp" 2>/dev/null || true; fi
    rm -rf "$work"
    rmdir "/var/run/dpdk/$prefix" 2>/dev/null || true
    [ "$client" = 1 ] || rm -f "$sock"
}
trap finish EXIT
[ "$client" = 1 ] || rm -f "$sock"
mkdir -p "$(dirname "$sock")"
tpcmd=(dpdk-testpmd --lcores "0@$cpu,1@$cpu" --no-huge -m "$mem" --no-pci --no-shconf --no-telemetry
       --file-prefix="$prefix" --vdev "net_vhost0,iface=$sock,client=$client,queues=$queues${vopts:+,$vopts}"
       -- --forward-mode="$mode" --nb-cores=1 --rxq="$queues" --txq="$queues" --stats-period "$period")
[ "$mode" != txonly ] || tpcmd+=(--txpkts="$txpkts")
[ -z "$nmbufs" ] || tpcmd+=(--total-num-mbufs="$nmbufs")
h_say "testpmd: ${tpcmd[*]}"
mkfifo "$work/pipe"
if [ "$secs" != 0 ]; then
    timeout -s INT -k 10 "$secs" "${tpcmd[@]}" </dev/null >"$work/pipe" 2>&1 &
else
    "${tpcmd[@]}" </dev/null >"$work/pipe" 2>&1 &
fi
tp=$!
# The reader turns testpmd's statistics blocks into one line each; it ignores SIGINT/SIGTERM so that it
# still prints the totals after testpmd was stopped.
(
    trap '' INT TERM
    exec "${H_AWK[@]}" -v sock="$sock" -v logf="$out" '
    function say(s) { print s; fflush() }
    BEGIN { start = systime() }
    { gsub(/\033\[[0-9;]*[A-Za-z]/, ""); print > logf; fflush(logf) }
    /binding succeeded/                          { say("listening " sock) }
    /vhost-user client: socket created/          { say("connecting to " sock) }
    /virtio is now ready for processing/         { say("front-end connected") }
    /vhost peer closed|disconnected/             { say("front-end disconnected") }
    /Failed|failed|Cannot|No probed ethernet devices|EAL: Error/ { say("testpmd: " $0) }
    /^ *RX-packets:/ && /RX-missed/ { rx = $2 }
    /^ *TX-packets:/ && /TX-errors/ { tx = $2 }
    /^ *Rx-pps:/ { rxpps = $2 }
    /^ *Tx-pps:/ {
        txpps = $2
        if (rx != lastrx || tx != lasttx || rxpps > 0 || txpps > 0)
            say(sprintf("t=%ds rx_pkts=%s rx_pps=%d rx_mpps=%.3f tx_pkts=%s tx_mpps=%.3f",
                        systime() - start, rx, rxpps, rxpps / 1e6, tx, txpps / 1e6))
        if (rxpps > 0) busy[++nbusy] = rxpps
        if (txpps > 0) tbusy[++ntbusy] = txpps
        lastrx = rx; lasttx = tx
    }
    END {
        printf "rx_packets=%d tx_packets=%d\n", lastrx, lasttx
        first = 1; last = nbusy
        if (nbusy >= 3) { first = 2; last = nbusy - 1 }
        sum = 0; k = 0
        for (i = first; i <= last; i++) { sum += busy[i]; k++ }
        printf "rxonly_mpps=%.3f\n", k ? sum / k / 1e6 : 0
        first = 1; last = ntbusy
        if (ntbusy >= 3) { first = 2; last = ntbusy - 1 }
        sum = 0; k = 0
        for (i = first; i <= last; i++) { sum += tbusy[i]; k++ }
        printf "txonly_mpps=%.3f\n", k ? sum / k / 1e6 : 0
    }'
) <"$work/pipe" &
reader=$!
trap 'kill -INT "$tp" 2>/dev/null || true' INT TERM
while kill -0 "$tp" 2>/dev/null; do wait "$tp" 2>/dev/null || true; done
tp=""
trap - INT TERM
wait "$reader" || true
if grep -qE 'No probed ethernet devices|EAL: Error|Cannot create' "$out"; then
    h_say "testpmd did not start; the end of its output:"
    tail -n 20 "$out" >&2
    exit 1
fi
