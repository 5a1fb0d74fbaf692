#!/usr/bin/env bash
# e2e-net-restart.sh - DPDK virtio-user (testpmd, a vhost-user front-end without a guest) stops its port,
# starts it again and quits while cvmm-net --source=64 serves it: traffic must flow again after the restart,
# and the rings must be stopped and answered when testpmd closes the port.
#
# Usage: e2e-net-restart.sh --bin PATH
#   cvmm-net --source=64 fills testpmd's rx ring with 64-byte frames; testpmd (net_virtio_user0, io
#   forwarding, a 256-entry ring per queue) sends them back into cvmm-net's sink.  Once both directions
#   moved more than four rings' worth (a ring that no longer moves gives at most one ring's worth; the port
#   statistics are polled for up to 60 s), at testpmd's prompt: `stop`, `port stop 0` and `port start 0`
#   (DPDK 22.11 sends SET_VRING_ENABLE 0, then 1, for both rings), `clear port stats 0`, `start`, and
#   both directions must move as much again.  Then `quit`: testpmd
#   closes the port with GET_VRING_BASE for ring 0 and ring 1, and the second one carries ring 0's base in
#   its reserved num (virtio_user_stop_device() reuses one vhost_vring_state): cvmm-net must answer both
#   (VUB_QUIRK_DPDK_GET_VRING_BASE_NUM), so testpmd must not print "get_vring_base failed", cvmm-net must
#   log "reserved num ... ignored" and refuse nothing, and its sink must count more than 1000 frames.
# Exit status 0 pass, 1 fail, 77 skip.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BIN=""
case "${1:-}" in
    --bin) BIN=${2:?--bin PATH}; [ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; } ;;
    *) echo "usage: $0 --bin PATH" >&2; exit 2 ;;
esac
e2e_init net-restart
e2e_need_pkgs dpdk-dev librte-net-virtio23 librte-mempool-ring23
read -r BECPU QCPU < <(e2e_tcg_cpus)
SOCK=$E2E_TMP/net.sock
QSIZE=256

e2e_backend_start net "$SOCK" taskset -c "$BECPU" "$BIN" "--socket-path=$SOCK" --source=64 --log-level=debug
BELOG=$(e2e_backend_log net)

TPLOG=$E2E_TMP/testpmd.log
prefix=cvmmrs$$
mkfifo "$E2E_TMP/testpmd.in"
stdbuf -oL -eL dpdk-testpmd --lcores "0@$QCPU,1@$QCPU" --no-huge -m 256 --no-pci --no-shconf --no-telemetry \
    --file-prefix="$prefix" --vdev "net_virtio_user0,path=$SOCK,queues=1,queue_size=$QSIZE" \
    -- -i --auto-start --forward-mode=io --nb-cores=1 --total-num-mbufs=16384 \
    <"$E2E_TMP/testpmd.in" >"$TPLOG" 2>&1 &
TP=$!
exec 3>"$E2E_TMP/testpmd.in"
e2e_on_exit "exec 3>&-; kill -KILL $TP 2>/dev/null; rmdir /var/run/dpdk/$prefix 2>/dev/null"

# wait_out COUNT REGEX [SECONDS]: until testpmd's output has COUNT lines matching REGEX (default 60 s).
wait_out() {
    local n=$1 re=$2 secs=${3:-60} i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(seen "$re")" -ge "$n" ] && return 0
        kill -0 "$TP" 2>/dev/null || break
        sleep 0.1
    done
    tail -n 30 "$TPLOG" | sed 's/^/  testpmd| /'
    e2e_fail "testpmd: no ${n}x /$re/ within ${secs}s"
}
# seen REGEX: how many lines of testpmd's output match REGEX so far.
seen() { grep -cE -- "$1" "$TPLOG" || true; }
# port_packets RX|TX: RX-packets or TX-packets of the latest `show port stats 0`.
port_packets() { awk -v k="$1-packets:" '$1 == k && /-(errors|missed):/ { n = $2 } END { print n + 0 }' "$TPLOG"; }
# moved WHEN: read the port's statistics once a second until both directions moved more than four rings'
# worth (a ring that no longer moves gives at most one ring's worth); fail after 60 s.
moved() {
    local rx=0 tx=0 n i
    for ((i = 0; i < 60; i++)); do
        n=$(seen 'TX-packets:.*TX-errors')
        echo "show port stats 0" >&3
        wait_out $((n + 1)) 'TX-packets:.*TX-errors' 30
        rx=$(port_packets RX) tx=$(port_packets TX)
        if [ "$rx" -gt $((4 * QSIZE)) ] && [ "$tx" -gt $((4 * QSIZE)) ]; then
            e2e_log "$1: testpmd received $rx and sent $tx frames"
            return 0
        fi
        sleep 1
    done
    e2e_fail "$1: no more than the rings hold moved in 60 s (received $rx, sent $tx)"
}

wait_out 1 'testpmd> '
e2e_log "testpmd is up and forwarding"
moved "before the restart"
e2e_log "stopping the port"
done0=$(seen '^Done$')
printf '%s\n' stop "port stop 0" >&3
wait_out 1 'Stopping ports' 30
wait_out $((done0 + 1)) '^Done$' 30
if grep -qE 'get_vring_base failed|Failed to stop device' "$TPLOG"; then
    tail -n 20 "$TPLOG" | sed 's/^/  testpmd| /'
    e2e_fail "testpmd could not stop the port"
fi
e2e_backend_alive net
e2e_log "port stopped; starting it again"
printf '%s\n' "port start 0" >&3
wait_out $((done0 + 2)) '^Done$' 30
grep -qE 'Fail to start port|Failed to start device' "$TPLOG" && e2e_fail "testpmd could not start the port again"
printf '%s\n' "clear port stats 0" start >&3
moved "after the restart"
e2e_log "quitting testpmd (it stops both rings with GET_VRING_BASE)"
printf '%s\n' stop quit >&3
exec 3>&-
for _ in $(seq 300); do kill -0 "$TP" 2>/dev/null || break; sleep 0.1; done
kill -INT "$TP" 2>/dev/null || true
wait "$TP" 2>/dev/null || true
if grep -E 'get_vring_base|Failed to stop device' "$TPLOG"; then
    e2e_fail "testpmd could not stop the rings when it closed the port"
fi

e2e_backend_alive net
e2e_backend_stop net
grep -E 'rejected|closing|closed|error' "$BELOG" | head -n 5 | sed 's/^/  cvmm-net| /' || true
grep -qE 'rejected' "$BELOG" && e2e_fail "cvmm-net refused a request"
nres=$(grep -c 'GET_VRING_BASE reserved num' "$BELOG" || true)
[ "$nres" -ge 1 ] || e2e_fail "testpmd sent no GET_VRING_BASE with num set (the case this test is for)"
e2e_log "cvmm-net ignored GET_VRING_BASE's reserved num $nres times"
rx=$(sed -n 's/^cvmm-net: source tx_packets=\([0-9]*\).*/\1/p' "$BELOG")
[ "${rx:-0}" -gt 1000 ] || e2e_fail "cvmm-net's sink counted ${rx:-nothing} frames (expected > 1000)"
e2e_log "cvmm-net's sink counted $rx frames from testpmd"
printf 'e2e %s: PASS (%ss)\n' "$E2E_NAME" "$(e2e__elapsed)"
exit 0
