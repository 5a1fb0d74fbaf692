#!/bin/sh
# rng.sh - guest side of the virtio-rng end-to-end tests (busybox sh, inside the guest).
#
# Parameters (kernel command line KEY=VALUE, i.e. run-guest.sh --append):
#   rng_bytes=N      bytes to read from /dev/hwrng (default 4096)
#   rng_expect=STR   rng_current must contain STR (default virtio_rng)
#   rng_pause=SECS   reconnect tests: after the first read print "E2E-PAUSE rng" and wait for the host to
#                    type "E2E-GO" on the console once it restarted the back-end (at most SECS), then
#                    read again
# Each read must return exactly N bytes within 30 s, not all equal. Last line "rng: PASS" or
# "rng: FAIL <why>", with a matching exit status.

N=${rng_bytes:-4096}
EXPECT=${rng_expect:-virtio_rng}
fail() { echo "rng: FAIL $*"; exit 1; }

readrng() {
    rm -f /tmp/rng
    timeout 30 dd if=/dev/hwrng of=/tmp/rng bs="$N" count=1 iflag=fullblock 2>/tmp/dd.err ||
        { cat /tmp/dd.err; fail "read of $N bytes from /dev/hwrng failed or timed out"; }
    got=$(wc -c </tmp/rng)
    [ "$got" = "$N" ] || fail "read $got bytes, expected $N"
    distinct=$(hexdump -v -e '1/1 "%02x\n"' /tmp/rng | sort -u | wc -l)
    [ "$distinct" -gt 1 ] || fail "all $N bytes are equal"
    echo "rng: read $N bytes, $distinct distinct byte values, sha256=$(sha256sum </tmp/rng | cut -d' ' -f1)"
}

wait-for /dev/hwrng 20 || fail "/dev/hwrng did not appear"
H=/sys/class/misc/hw_random
wait-for "$H/rng_current" 10 || fail "no $H/rng_current"
i=0
while ! grep -q "$EXPECT" "$H/rng_current" && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
cur=$(cat "$H/rng_current")
echo "rng_current: $cur"
echo "rng_available: $(cat "$H/rng_available")"
case "$cur" in *"$EXPECT"*) ;; *) fail "rng_current is '$cur', expected $EXPECT" ;; esac
readrng
if [ -n "$rng_pause" ]; then
    echo "E2E-PAUSE rng $rng_pause"
    wait-host E2E-GO "$rng_pause" || fail "the host did not type E2E-GO within $rng_pause s"
    echo "rng: resuming"
    readrng
fi
echo "rng: PASS"
exit 0
