#!/usr/bin/env bash
# The README's main command: an example device serving a real guest.  The example devices arrive with
# issue 7 (devices/); until then this builds the libraries and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null && cmake --build --preset release -j "$(nproc)" >/dev/null
echo "demo: libraries built in build/release."
echo "demo: the example device (cvmm-blk serving a QEMU guest) is not built yet: see issue 7."
