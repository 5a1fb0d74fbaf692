#!/bin/sh
# net.sh - guest side of the virtio-net end-to-end tests (busybox sh, inside the guest).
# eth0 gets a made-up TEST-NET-1 (RFC 5737) address; its only link is the vhost-user back-end, so every
# frame stays between the guest, the back-end and whatever the test put behind it (a tap in a network
# namespace, or testpmd).
#
# Parameters (kernel command line KEY=VALUE, i.e. run-guest.sh --append):
#   net_addr=192.0.2.2  net_peer=192.0.2.1  net_count=5 (pings per round)
#   net_queues=N      expected number of rx queues of eth0 (checked if set; virtio_net uses
#                     min(queue pairs, vCPUs), so boot with --smp N)
#   net_packed=0|1    expected VIRTIO_F_RING_PACKED (feature bit 34) after negotiation (checked if set)
#   net_wait_echo=N   after pinging, print "E2E-NET-READY <addr>" and wait until the guest has answered
#                     N ICMP echo requests (the host pings it), at most net_wait_s seconds (default 30)
#   net_bg_ping=1     with net_wait_echo: also ping the peer every 0.2 s in the background from before
#                     "E2E-NET-READY" until the echo requests arrived (a live migration happens
#                     meanwhile), then report "MIG-NET transmitted=T received=R lost=L longest_gap=G"
#                     (informative; at least one reply is required) and ping 3 more times (all answered)
#   net_pause=SECS    reconnect tests: after the first round print "E2E-PAUSE net", sleep SECS (the host
#                     restarts the back-end meanwhile), then ping until it answers (at most net_wait_s
#                     probes of 1 s) and 3 more; the host's echo requests (net_wait_echo) after its
#                     restart show that the restarted back-end carries traffic
# Last line "net: PASS" or "net: FAIL <why>", with a matching exit status.

ADDR=${net_addr:-192.0.2.2}
PEER=${net_peer:-192.0.2.1}
COUNT=${net_count:-5}
fail() { echo "net: FAIL $*"; exit 1; }

# in_echos: ICMP echo requests received so far (from /proc/net/snmp, column InEchos).
in_echos() {
    awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp
}

wait-for /sys/class/net/eth0 20 || fail "eth0 did not appear"
echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null
ip link set eth0 up
ip addr add "$ADDR/24" dev eth0
i=0
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
features=$(cat /sys/class/net/eth0/device/features 2>/dev/null)
packed=$(echo "$features" | cut -c35)
echo "net: eth0 mac=$(cat /sys/class/net/eth0/address) carrier=$(cat /sys/class/net/eth0/carrier 2>/dev/null) addr=$ADDR peer=$PEER packed=${packed:-?} features=$features"
queues=$(ls -d /sys/class/net/eth0/queues/rx-* 2>/dev/null | wc -l)
echo "net: eth0 rx queues=$queues"
[ -z "$net_queues" ] || [ "$queues" = "$net_queues" ] || fail "$queues rx queues, expected $net_queues"
[ -z "$net_packed" ] || [ "$packed" = "$net_packed" ] || fail "packed ring negotiated=$packed, expected $net_packed"

ping -c "$COUNT" -W 2 "$PEER" || fail "no reply from $PEER"
if [ -n "$net_pause" ]; then
    echo "E2E-PAUSE net $net_pause"
    sleep "$net_pause"
    echo "net: resuming"
    i=0
    until ping -c 1 -W 1 "$PEER" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt "${net_wait_s:-30}" ] || fail "no reply from $PEER within $i probes after the restart"
    done
    echo "net: $PEER answers again after $i unanswered probes"
    ping -c 3 -W 2 "$PEER" || fail "no reply from $PEER after the restart"
fi
if [ -n "$net_wait_echo" ]; then
    base=$(in_echos) bg=""
    if [ "${net_bg_ping:-0}" = 1 ]; then
        ping -i 0.2 -W 1 "$PEER" >/tmp/ping.log 2>&1 &
        bg=$!
    fi
    echo "E2E-NET-READY $ADDR"
    i=0
    while [ $(( $(in_echos) - base )) -lt "$net_wait_echo" ]; do
        i=$((i + 1))
        [ $i -le $(( ${net_wait_s:-30} * 10 )) ] || fail "answered $(( $(in_echos) - base )) echo requests, expected $net_wait_echo"
        usleep 100000
    done
    echo "net: answered $(( $(in_echos) - base )) echo requests from the host"
    if [ -n "$bg" ]; then
        kill -INT "$bg"
        wait "$bg"
        t=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping.log)
        r=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.log)
        gap=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' /tmp/ping.log | awk -v t="$t" 'BEGIN { p = -1; g = 0 }
            { if ($1 - p - 1 > g) g = $1 - p - 1; p = $1 } END { if (t - p - 1 > g) g = t - p - 1; print g }')
        echo "MIG-NET transmitted=$t received=$r lost=$((t - r)) longest_gap=$gap"
        [ "${r:-0}" -gt 0 ] || fail "no reply to the background pings"
        ping -c 3 -W 2 "$PEER" || fail "no reply from $PEER after the background pings"
    fi
    sleep 1   # let the last reply reach the host before the guest powers off
fi
echo "net: eth0 tx_packets=$(cat /sys/class/net/eth0/statistics/tx_packets) rx_packets=$(cat /sys/class/net/eth0/statistics/rx_packets)"
echo "net: PASS"
exit 0
