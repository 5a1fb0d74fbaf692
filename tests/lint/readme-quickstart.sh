#!/usr/bin/env bash
# readme-quickstart.sh SOURCE_DIR - the README's quick-start code block is devices/rng/main.c, byte for byte,
# so the code a newcomer copies is the code that ctest builds and runs (consumer-quickstart, e2e-rng-*).
set -euo pipefail
src=${1:?}
block=$(awk '/^## Write a device/ { sec = 1 } sec && /^```c$/ { on = 1; next } on && /^```$/ { exit } on { print }' "$src/README.md")
if [ "$block" != "$(cat "$src/devices/rng/main.c")" ]; then
    echo "readme-quickstart: FAIL README.md's quick-start block differs from devices/rng/main.c:"
    diff <(printf '%s\n' "$block") "$src/devices/rng/main.c" || true
    exit 1
fi
echo "readme-quickstart: ok ($(printf '%s\n' "$block" | wc -l) lines)"
