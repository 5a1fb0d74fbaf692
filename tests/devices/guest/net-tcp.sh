#!/bin/sh
# net-tcp.sh - guest side of e2e-net-tcp.sh (busybox sh, inside the guest): a TCP stream to the host and one
# from the host through the vhost-user NIC, with the data's sha256 printed for the host to compare.
#
# Parameters (kernel command line KEY=VALUE, i.e. run-guest.sh --append):
#   net_addr=192.0.2.2  net_peer=192.0.2.1
#   net_offloads=1|0  expected: CSUM, GUEST_CSUM, GUEST_TSO4, GUEST_TSO6, HOST_TSO4, HOST_TSO6 all
#                     negotiated (1) or none of them (0), read from /sys/class/net/eth0/device/features
#   tcp_mib=N         MiB per stream (default 4)   tcp_port_tx=5001 (host listens)  tcp_port_rx=5002 (we listen)
# Console: "E2E-TCP-TX <sha256>" once our data is written to the host; "E2E-TCP-LISTEN" when we are about
# to accept the host's stream, then "E2E-TCP-RX bytes=<n> sha256=<h>". Last line "net-tcp: PASS" or
# "net-tcp: FAIL <why>", with a matching exit status.

ADDR=${net_addr:-192.0.2.2}
PEER=${net_peer:-192.0.2.1}
MIB=${tcp_mib:-4}
fail() { echo "net-tcp: FAIL $*"; exit 1; }

wait-for /sys/class/net/eth0 20 || fail "eth0 did not appear"
echo 1 >/proc/sys/net/ipv6/conf/eth0/disable_ipv6 2>/dev/null
ip link set eth0 up
ip addr add "$ADDR/24" dev eth0
i=0
while [ "$(cat /sys/class/net/eth0/carrier 2>/dev/null)" != 1 ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
features=$(cat /sys/class/net/eth0/device/features 2>/dev/null)
bit() { echo "$features" | cut -c$(($1 + 1)); }
off=$(bit 0)$(bit 1)$(bit 7)$(bit 8)$(bit 11)$(bit 12)
echo "net-tcp: features=$features"
echo "net-tcp: CSUM GUEST_CSUM GUEST_TSO4 GUEST_TSO6 HOST_TSO4 HOST_TSO6 = $off"
case "${net_offloads:-}" in
    1) [ "$off" = 111111 ] || fail "offloads not negotiated ($off)" ;;
    0) [ "$off" = 000000 ] || fail "offloads negotiated although off ($off)" ;;
esac

dd if=/dev/urandom of=/tmp/out bs=65536 count=$((MIB * 16)) 2>/dev/null || fail "dd"
sum=$(sha256sum /tmp/out | cut -d' ' -f1)
ping -c 1 -W 10 "$PEER" >/dev/null || fail "no reply from $PEER"
nc "$PEER" "${tcp_port_tx:-5001}" </tmp/out >/dev/null || fail "nc to $PEER failed"
echo "E2E-TCP-TX $sum"

nc -l -p "${tcp_port_rx:-5002}" </dev/null >/tmp/in &
ncpid=$!
echo "E2E-TCP-LISTEN"
wait $ncpid || fail "nc -l failed"
echo "E2E-TCP-RX bytes=$(wc -c </tmp/in) sha256=$(sha256sum /tmp/in | cut -d' ' -f1)"
retrans=$(awk '/^Tcp:/ { if (!h) { for (i = 1; i <= NF; i++) if ($i == "RetransSegs") c = i; h = 1 } else { print $c; exit } }' /proc/net/snmp)
echo "net-tcp: TCP segments retransmitted by the guest: $retrans"
echo "net-tcp: eth0 tx_packets=$(cat /sys/class/net/eth0/statistics/tx_packets) rx_packets=$(cat /sys/class/net/eth0/statistics/rx_packets)"
echo "net-tcp: PASS"
exit 0
