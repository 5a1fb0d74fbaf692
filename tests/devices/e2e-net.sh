#!/usr/bin/env bash
# e2e-net.sh - a vhost-user net back-end serves a real Linux guest under QEMU (TCG).
#
# Usage: e2e-net.sh VARIANT (--ref | --bin PATH)
#   VARIANT    icmp       (--ref) DPDK testpmd net_vhost in icmpecho mode answers the guest's ARP and ping
#              packed     virtio-net-pci packed=on: the packed ring must be negotiated (--ref: testpmd
#                         icmpecho as for icmp; --bin: the tap test)
#              mq         2 queue pairs (mq=on, 2 vCPUs): the guest must get 2 rx queues and pings must
#                         be answered (--ref: testpmd icmpecho --queues 2; --bin: the tap test with a
#                         multi_queue tap)
#              mq1cpu     (--bin) 2 queue pairs offered but 1 vCPU: the guest enables one pair, so the
#                         back-end must detach the idle pair's tap queue: 16 TCP connects from the host
#                         (16 flows) must all be refused by the guest at once; pings both ways
#              tap        the guest's eth0 reaches a tap device in a network namespace the test makes:
#                         the guest (192.0.2.2) pings 192.0.2.1 on the tap, then the host pings the guest
#              sink       no guest: DPDK virtio-user (harness dpdk-virtio-user.sh, a vhost-user front-end)
#                         transmits 64-byte frames for 3 s into the back-end's sink, which counts and
#                         drops them (--ref: dpdk-vhost-sink.sh rxonly; --bin: cvmm-net --sink, whose
#                         exit line must count more than 1000 frames)
#              sinkpacked the same with virtio-user packed_vq=1 (a packed ring that wraps many times)
#              reconnect  (--bin) tap, and the back-end is restarted while the guest runs; QEMU
#                         (reconnect=1) connects again and the guest's pings get answers again
#              client     (--bin) tap with the roles swapped: QEMU listens (server=on,wait=on) and
#                         cvmm-net --client connects; the back-end is restarted mid-run and connects again
#   --ref      back-end: DPDK testpmd (icmp/packed: harness dpdk-vhost-sink.sh --mode icmpecho; tap:
#              testpmd io-forwarding between net_vhost and net_tap on the tap, inside the namespace)
#   --bin PATH back-end: cvmm-net (PATH --socket-path=SOCK --tap=tap0, run inside the namespace)
# Exit status 0 pass, 1 fail, 77 skip (tap and reconnect need root for the network namespace).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# cvmm-net's options (issue 7): the tap is made by the test and opened by name; the sink back-end.
CVMM_NET_TAP_OPT=--tap=
CVMM_NET_SINK_OPT=--sink
CVMM_NET_QUEUES_OPT=--queue-pairs=

VARIANT=${1:-}
case "$VARIANT" in icmp|packed|mq|mq1cpu|tap|sink|sinkpacked|reconnect|client) shift ;; *) echo "usage: $0 icmp|packed|mq|mq1cpu|tap|sink|sinkpacked|reconnect|client --ref|--bin PATH" >&2; exit 2 ;; esac
REF=0 BIN=""
case "${1:-}" in
    --ref) REF=1 ;;
    --bin) BIN=${2:?--bin PATH}; [ -x "$BIN" ] || { echo "$0: not executable: $BIN" >&2; exit 2; } ;;
    *) echo "usage: $0 $VARIANT --ref|--bin PATH" >&2; exit 2 ;;
esac
case "$VARIANT/$REF" in
    icmp/0|reconnect/1|mq1cpu/1|client/1) echo "$0: variant $VARIANT needs ${REF/0/--ref}${REF/1/--bin}" >&2; exit 2 ;;
esac

if [ "$REF" = 1 ]; then e2e_init "ref-net-$VARIANT"; else e2e_init "net-$VARIANT"; fi
read -r BECPU QCPU < <(e2e_tcg_cpus)
SOCK=$E2E_TMP/net.sock
guest=(--net "$SOCK" --taskset "$QCPU" --script "$E2E_GUEST_SCRIPTS/net.sh")

if [ "$VARIANT" = icmp ] || { [ "$VARIANT" = packed ] || [ "$VARIANT" = mq ]; } && [ "$REF" = 1 ]; then
    q=1
    [ "$VARIANT" = mq ] && q=2
    e2e_backend_start net "$SOCK" "$E2E_HARNESS/dpdk-vhost-sink.sh" "$SOCK" --mode icmpecho --cpu "$BECPU" --queues "$q"
    case "$VARIANT" in
        packed) guest+=(--extra "-global virtio-net-pci.packed=on" --append "net_packed=1 net_count=3") ;;
        mq) guest+=(--net-queues 2 --smp 2 --append "net_queues=2 net_count=3") ;;
        *) guest+=(--append "net_packed=0 net_count=3") ;;
    esac
    e2e_boot "${guest[@]}"
    e2e_guest_ok
    e2e_expect '^net: PASS'
    e2e_backend_stop net
    grep -E '^(t=|rx_packets=)' "$(e2e_backend_log net)" | sed 's/^/  testpmd| /'
    rx=$(sed -n 's/^rx_packets=\([0-9]*\).*/\1/p' "$(e2e_backend_log net)")
    [ "${rx:-0}" -gt 0 ] || e2e_fail "testpmd received nothing"
    e2e_log "testpmd received $rx packets from the guest"
    e2e_finish
fi

if [ "$VARIANT" = sink ] || [ "$VARIANT" = sinkpacked ]; then
    vopts=()
    [ "$VARIANT" = sinkpacked ] && vopts=(--vdev-opts packed_vq=1)
    if [ "$REF" = 1 ]; then
        e2e_backend_start net "$SOCK" "$E2E_HARNESS/dpdk-vhost-sink.sh" "$SOCK" --mode rxonly --cpu "$BECPU"
    else
        e2e_backend_start net "$SOCK" "$BIN" "--socket-path=$SOCK" "$CVMM_NET_SINK_OPT"
    fi
    e2e_log "DPDK virtio-user transmits 64-byte frames into the sink for 3 s (CPU $QCPU)"
    vurc=0
    "$E2E_HARNESS/dpdk-virtio-user.sh" "$SOCK" 3 64 --cpu "$QCPU" ${vopts[@]+"${vopts[@]}"} \
        >"$E2E_TMP/virtio-user.log" 2>&1 || vurc=$?
    grep -E '^(tx_|txonly_mpps=)' "$E2E_TMP/virtio-user.log" | sed 's/^/  virtio-user| /' || true
    if [ "$vurc" != 0 ]; then
        tail -n 30 "$E2E_TMP/virtio-user.log" | sed 's/^/  virtio-user| /'
        e2e_fail "dpdk-virtio-user.sh failed (status $vurc)"
    fi
    tx=$(sed -n 's/^txonly_mpps=//p' "$E2E_TMP/virtio-user.log")
    awk -v t="${tx:-0}" 'BEGIN { exit !(t > 0) }' || e2e_fail "virtio-user sent nothing (txonly_mpps=${tx:-none})"
    e2e_backend_alive net
    e2e_backend_stop net
    if [ "$REF" = 1 ]; then
        rx=$(sed -n 's/^rx_packets=\([0-9]*\).*/\1/p' "$(e2e_backend_log net)")
        [ "${rx:-0}" -gt 0 ] || e2e_fail "the sink counted nothing"
        e2e_log "sink counted $rx packets"
    else
        rx=$(sed -n 's/^cvmm-net: sink tx_packets=\([0-9]*\).*/\1/p' "$(e2e_backend_log net)")
        [ "${rx:-0}" -gt 1000 ] || e2e_fail "cvmm-net's sink counted ${rx:-nothing} frames (expected > 1000)"
        e2e_log "cvmm-net's sink counted $rx frames"
    fi
    e2e_log "virtio-user txonly_mpps=$tx"
    printf 'e2e %s: PASS (%ss)\n' "$E2E_NAME" "$(e2e__elapsed)"
    exit 0
fi

# tap / reconnect: a namespace with tap0 = 192.0.2.1/24; the back-end runs inside it.
e2e_need_netns
e2e_netns_create NS
if [ "$REF" = 1 ]; then
    e2e_need_pkgs dpdk-dev librte-net-vhost23 librte-net-tap23 librte-mempool-ring23
    # DPDK's net_tap opens taps with IFF_MULTI_QUEUE, so the tap must be a multi_queue one.
    e2e_netns_tap "$NS" tap0 192.0.2.1/24 multi_queue
    e2e_on_exit "rmdir /var/run/dpdk/cvmme2e$$ 2>/dev/null"   # testpmd's (empty) runtime dir
    e2e_backend_start --netns "$NS" --ready 'Port 1: ' net "$SOCK" \
        dpdk-testpmd --lcores "0@$BECPU,1@$BECPU" --no-huge -m 1024 --no-pci --no-shconf --no-telemetry \
        --file-prefix="cvmme2e$$" --vdev "net_vhost0,iface=$SOCK,client=0,queues=1" --vdev net_tap0,iface=tap0 \
        -- --forward-mode=io --nb-cores=1 --stats-period 2
elif [ "$VARIANT" = mq ] || [ "$VARIANT" = mq1cpu ]; then
    e2e_netns_tap "$NS" tap0 192.0.2.1/24 multi_queue
    e2e_backend_start --netns "$NS" net "$SOCK" "$BIN" "--socket-path=$SOCK" "${CVMM_NET_TAP_OPT}tap0" \
        "${CVMM_NET_QUEUES_OPT}2"
    if [ "$VARIANT" = mq ]; then guest+=(--net-queues 2 --smp 2); else guest+=(--net-queues 2 --smp 1); fi
elif [ "$VARIANT" = client ]; then
    e2e_netns_tap "$NS" tap0 192.0.2.1/24   # the back-end starts once QEMU listens (below)
else
    e2e_netns_tap "$NS" tap0 192.0.2.1/24
    e2e_backend_start --netns "$NS" net "$SOCK" "$BIN" "--socket-path=$SOCK" "${CVMM_NET_TAP_OPT}tap0"
fi
append="net_wait_echo=3 net_count=3"
[ "$VARIANT" = mq ] && append+=" net_queues=2"
[ "$VARIANT" = mq1cpu ] && append+=" net_queues=1"
if [ "$VARIANT" = packed ]; then
    guest+=(--extra "-global virtio-net-pci.packed=on")
    append+=" net_packed=1"
fi
# The guest's echo wait (net_wait_s) spans the host's restart of the back-end: 120 s, as a loaded host
# may need many seconds for it.
case "$VARIANT" in
    reconnect) guest+=(--chardev-opts reconnect=1) ;;
    client) guest+=(--chardev-opts "server=on,wait=on") ;;
esac
case "$VARIANT" in reconnect|client) append+=" net_pause=4 net_wait_s=120" ;; esac
guest+=(--append "$append")
e2e_boot_bg "${guest[@]}"
if [ "$VARIANT" = client ]; then
    for _ in $(seq 300); do [ -S "$SOCK" ] && break; sleep 0.1; done
    [ -S "$SOCK" ] || e2e_fail "QEMU did not create $SOCK"
    e2e_backend_start --netns "$NS" net - "$BIN" "--socket-path=$SOCK" --client "${CVMM_NET_TAP_OPT}tap0"
fi
if [ "$VARIANT" = reconnect ] || [ "$VARIANT" = client ]; then
    e2e_wait_console '^E2E-PAUSE net'
    e2e_backend_restart net
fi
e2e_wait_console '^E2E-NET-READY'
if [ "$VARIANT" = mq1cpu ]; then
    # 16 TCP connects from the host to closed ports of the guest: 16 new flows, which the tap spreads
    # over its attached queues by hash. The guest answers each SYN with a RST (refused at once); a SYN
    # steered to the idle pair's queue would never be read, and the connect would time out.
    lost=0
    for port in $(seq 40000 40015); do
        rc=0
        ip netns exec "$NS" timeout 3 bash -c "exec 3<>/dev/tcp/192.0.2.2/$port" 2>/dev/null || rc=$?
        [ "$rc" = 124 ] && lost=$((lost + 1))
    done
    [ "$lost" = 0 ] || e2e_fail "$lost of 16 TCP SYNs from the host got no answer (steered to an idle tap queue?)"
    e2e_log "16 TCP connects to closed guest ports were all refused at once"
fi
e2e_netns_ping "$NS" 192.0.2.2 3
e2e_wait_guest
e2e_guest_ok
e2e_expect '^net: PASS' '^net: answered [0-9]+ echo requests from the host'
e2e_finish
