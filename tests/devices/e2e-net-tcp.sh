#!/usr/bin/env bash
# e2e-net-tcp.sh - TCP streams between a QEMU guest (TCG) and a tap in a network namespace through cvmm-net,
# with the tap offloads on or off; prints the throughput of each direction (figures only, never asserted).
#
# Usage: e2e-net-tcp.sh on|off --bin PATH [--mib N]
#   on   cvmm-net --offloads=on: the guest must negotiate CSUM, GUEST_CSUM, GUEST/HOST_TSO4/6, and GSO
#        frames must cross cvmm-net both ways (its exit line's tx_gso and rx_gso > 0)
#   off  cvmm-net --offloads=off: none negotiated, no GSO frame (tx_gso = rx_gso = 0)
#   --mib N   MiB per stream (default 4: TCG is slow)
# Streams: the guest sends N MiB of random data with busybox nc to tcp-stream.py recv in the namespace, then
# tcp-stream.py send writes N MiB to the guest's nc -l; both sides print the data's sha256, which must match,
# as must the byte counts. Throughput = bytes / host-side time from connection to the end of the stream.
# Exit status 0 pass, 1 fail, 77 skip (needs root for the namespace and the tap).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VARIANT=${1:-}
case "$VARIANT" in on|off) shift ;; *) echo "usage: $0 on|off --bin PATH [--mib N]" >&2; exit 2 ;; esac
BIN="" MIB=4
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) BIN=${2:?--bin PATH}; shift 2 ;;
        --mib) MIB=${2:?--mib N}; shift 2 ;;
        *) echo "$0: unknown argument $1" >&2; exit 2 ;;
    esac
done
[ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; }

e2e_init "net-tcp-$VARIANT"
e2e_need_netns
read -r _ QCPU < <(e2e_tcg_cpus)
SOCK=$E2E_TMP/net.sock
PY=/usr/bin/python3   # not a version-manager shim (tests/harness/README.md, pitfalls)
STREAM=$E2E_DIR/tcp-stream.py

e2e_netns_create NS
e2e_netns_tap "$NS" tap0 192.0.2.1/24
e2e_backend_start --netns "$NS" net "$SOCK" "$BIN" "--socket-path=$SOCK" --tap=tap0 "--offloads=$VARIANT"

# The host end of the guest's stream listens before the guest boots.
ip netns exec "$NS" "$PY" "$STREAM" recv 192.0.2.1 5001 300 >"$E2E_TMP/recv.out" 2>&1 &
RECV_PID=$!
e2e_on_exit "kill $RECV_PID 2>/dev/null"
for _ in $(seq 300); do grep -q '^listening' "$E2E_TMP/recv.out" && break; sleep 0.1; done
grep -q '^listening' "$E2E_TMP/recv.out" || e2e_fail "tcp-stream.py recv did not listen: $(cat "$E2E_TMP/recv.out")"

want=0
[ "$VARIANT" = on ] && want=1
export CVMM_E2E_TIMEOUT=${CVMM_E2E_TIMEOUT:-240} # QEMU's limit: a boot and two streams under TCG
e2e_boot_bg --net "$SOCK" --taskset "$QCPU" --script "$E2E_GUEST_SCRIPTS/net-tcp.sh" \
    --append "net_offloads=$want tcp_mib=$MIB"

# stream_result FILE: "BYTES SHA SECONDS" from a tcp-stream.py output, or fail.
stream_result() {
    local r
    r=$(sed -n 's/^bytes=\([0-9]*\) sha256=\([0-9a-f]*\) seconds=\([0-9.]*\)$/\1 \2 \3/p' "$1")
    [ -n "$r" ] || e2e_fail "tcp-stream.py: $(cat "$1")"
    echo "$r"
}
mbits() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b * 8 / s / 1e6 : 0) }'; }

# guest -> host
e2e_wait_console '^E2E-TCP-TX [0-9a-f]{64}' 240
wait "$RECV_PID" || e2e_fail "tcp-stream.py recv failed: $(cat "$E2E_TMP/recv.out")"
read -r tx_bytes tx_sha tx_secs < <(stream_result "$E2E_TMP/recv.out")
guest_sha=$(sed -n 's/^E2E-TCP-TX \([0-9a-f]*\).*/\1/p' "$E2E_CONSOLE" | head -n 1)
[ "$tx_bytes" = $((MIB << 20)) ] || e2e_fail "guest -> host: the host got $tx_bytes bytes, the guest sent $((MIB << 20))"
[ "$tx_sha" = "$guest_sha" ] || e2e_fail "guest -> host: sha256 $tx_sha on the host, $guest_sha in the guest"
tx_rate=$(mbits "$tx_bytes" "$tx_secs")
e2e_log "guest -> host: $tx_bytes bytes, sha256 matches, ${tx_secs}s: $tx_rate Mbit/s"

# host -> guest
e2e_wait_console '^E2E-TCP-LISTEN' 60
ip netns exec "$NS" "$PY" "$STREAM" send 192.0.2.2 5002 "$MIB" 150 >"$E2E_TMP/send.out" 2>&1 ||
    e2e_fail "tcp-stream.py send failed: $(cat "$E2E_TMP/send.out")"
read -r rx_bytes rx_sha rx_secs < <(stream_result "$E2E_TMP/send.out")
e2e_wait_console '^E2E-TCP-RX bytes=' 60
guest_rx=$(sed -n 's/^E2E-TCP-RX bytes=\([0-9]*\) sha256=\([0-9a-f]*\).*/\1 \2/p' "$E2E_CONSOLE" | head -n 1)
[ "$guest_rx" = "$rx_bytes $rx_sha" ] || e2e_fail "host -> guest: sent $rx_bytes bytes sha256 $rx_sha, the guest got $guest_rx"
rx_rate=$(mbits "$rx_bytes" "$rx_secs")
e2e_log "host -> guest: $rx_bytes bytes, sha256 matches, ${rx_secs}s: $rx_rate Mbit/s"

e2e_wait_guest
e2e_guest_ok
e2e_expect '^net-tcp: PASS'
e2e_backend_stop net
line=$(grep -m1 '^cvmm-net: tap ' "$(e2e_backend_log net)") || e2e_fail "cvmm-net printed no counters"
e2e_log "$line"
tx_gso=$(sed -n 's/.* tx_gso=\([0-9]*\).*/\1/p' <<<"$line")
rx_gso=$(sed -n 's/.* rx_gso=\([0-9]*\).*/\1/p' <<<"$line")
if [ "$VARIANT" = on ]; then
    [ "${tx_gso:-0}" -gt 0 ] || e2e_fail "offloads on, but no GSO frame from the guest (tx_gso=${tx_gso:-?})"
    [ "${rx_gso:-0}" -gt 0 ] || e2e_fail "offloads on, but no GSO frame to the guest (rx_gso=${rx_gso:-?})"
else
    if [ "${tx_gso:-x}" != 0 ] || [ "${rx_gso:-x}" != 0 ]; then e2e_fail "offloads off, but GSO frames moved: $line"; fi
fi
echo "NET-TCP offloads=$VARIANT mib=$MIB guest_to_host_mbit=$tx_rate host_to_guest_mbit=$rx_rate tx_gso=$tx_gso rx_gso=$rx_gso"
e2e_finish
