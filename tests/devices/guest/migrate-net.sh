#!/bin/sh
# migrate-net.sh - guest side of e2e-migrate.sh net (busybox sh, inside the guest).
# eth0 = 192.0.2.2 on the vhost-user NIC; the peer 192.0.2.1 sits behind the back-end's tap (a bridge in
# the test's network namespace, one tap per back-end). The guest pings the peer every 0.2 s in the
# background, prints "E2E-MIGRATE-READY" (the host migrates it meanwhile), and waits until it has
# answered mig_wait_echo ICMP echo requests (the host pings it after the switch; at most mig_wait_s
# seconds, default 120). Then it stops its ping and reports how many of its requests went unanswered and
# the longest run of them ("MIG-NET transmitted=T received=R lost=L longest_gap=G"), pings 3 more times
# (all must be answered), and prints "migrate-net: PASS" or "migrate-net: FAIL <why>".

ADDR=192.0.2.2
PEER=192.0.2.1
WANT=${mig_wait_echo:-3}
fail() { echo "migrate-net: FAIL $*"; exit 1; }

# in_echos: ICMP echo requests received so far (from /proc/net/snmp, column InEchos).
in_echos() {
    awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "InEchos") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp
}

wait-for /sys/class/net/eth0 20 || fail "eth0 did not appear"
echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null
ip link set eth0 up
ip addr add "$ADDR/24" dev eth0
ping -c 3 -W 2 "$PEER" >/dev/null || fail "no reply from $PEER before the migration"
base=$(in_echos)
ping -i 0.2 -W 1 "$PEER" >/tmp/ping.log 2>&1 &
pid=$!
echo "E2E-MIGRATE-READY $ADDR"
i=0
while [ $(($(in_echos) - base)) -lt "$WANT" ]; do
    i=$((i + 1))
    [ $i -le $((${mig_wait_s:-120} * 10)) ] || { kill -INT $pid; fail "answered $(($(in_echos) - base)) echo requests from the host, expected $WANT"; }
    usleep 100000
done
echo "migrate-net: answered $(($(in_echos) - base)) echo requests from the host"
kill -INT $pid
wait $pid
t=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' /tmp/ping.log)
r=$(sed -n 's/.* \([0-9]*\) packets received.*/\1/p' /tmp/ping.log)
# The longest run of sequence numbers without a reply.
gap=$(sed -n 's/.* seq=\([0-9]*\) .*/\1/p' /tmp/ping.log | awk -v t="$t" '
    { if ($1 - prev - 1 > g) g = $1 - prev - 1; prev = $1 }
    BEGIN { prev = -1; g = 0 }
    END { if (t - prev - 1 > g) g = t - prev - 1; print g }')
echo "MIG-NET transmitted=$t received=$r lost=$((t - r)) longest_gap=$gap"
[ "${r:-0}" -gt 0 ] || fail "no reply at all"
ping -c 3 -W 2 "$PEER" || fail "no reply from $PEER after the migration"
echo "migrate-net: PASS"
exit 0
