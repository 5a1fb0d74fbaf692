#!/usr/bin/env bash
# fixture-guest-image.sh HARNESS GUEST_DIR - the ctest fixture "guest-image": build the guest kernel and
# initramfs for the end-to-end tests once, with HARNESS/guest-image.sh, into GUEST_DIR. A GUEST_DIR that
# already holds an image built by the same guest-image.sh (its sha256 in GUEST_DIR/builder.sha256) is kept;
# a changed builder rebuilds it (the downloaded kernel package is kept). Exit 77 (skip) if the harness is
# absent.
set -euo pipefail
HARNESS=${1:?usage: $0 HARNESS GUEST_DIR}
GUEST=${2:?usage: $0 HARNESS GUEST_DIR}
if [ ! -x "$HARNESS/guest-image.sh" ]; then
    echo "guest-image: SKIP the vhost-user test harness is absent ($HARNESS/guest-image.sh);" \
         "(CVMM_HARNESS_DIR points elsewhere)"
    exit 77
fi
builder=$(sha256sum <"$HARNESS/guest-image.sh" | cut -d' ' -f1)
if [ -f "$GUEST/initramfs.cpio.gz" ] && [ -f "$GUEST/kernel-version" ] &&
   { [ -f "$GUEST/vmlinux" ] || [ -f "$GUEST/vmlinuz" ]; } &&
   [ "$(cat "$GUEST/builder.sha256" 2>/dev/null)" = "$builder" ]; then
    echo "guest-image: cached in $GUEST (kernel $(cat "$GUEST/kernel-version")); delete it to rebuild"
    exit 0
fi
t0=$EPOCHREALTIME
echo "guest-image: building $GUEST with $HARNESS/guest-image.sh"
# Build beside the target and move into place, so that an interrupted build never looks cached.
rm -rf "$GUEST.new"
mkdir -p "$GUEST.new"
[ -d "$GUEST/.cache" ] && cp -a "$GUEST/.cache" "$GUEST.new/"
"$HARNESS/guest-image.sh" "$GUEST.new"
echo "$builder" >"$GUEST.new/builder.sha256"
rm -rf "$GUEST"
mv "$GUEST.new" "$GUEST"
echo "guest-image: PASS kernel $(cat "$GUEST/kernel-version") in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')s"
