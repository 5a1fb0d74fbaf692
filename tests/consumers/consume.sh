#!/usr/bin/env bash
# consume.sh MODE LIB SOURCE_DIR WORK_DIR PREFIX SANITIZE - build and run tests/consumers/app/LIB.c one way:
#   subdir: add_subdirectory(LIB); package: find_package(cvmm COMPONENTS LIB) against PREFIX;
#   pkg-config: cc + pkg-config --static cvmm-LIB;
#   quickstart (LIB ignored): the README's quick-start device (devices/rng) against PREFIX with find_package,
#   run with --help, --print-capabilities and a bad option.
set -euo pipefail
mode=$1 lib=$2 src=$3 work=$4 prefix=$5 san=${6:-}
rm -rf "$work" && mkdir -p "$work"
app=$src/tests/consumers/app
case $mode in
  subdir|package)
    args=(-DCVMM_MODE="$mode" -DCVMM_LIB="$lib" -DCVMM_SANITIZE="$san")
    if [ "$mode" = subdir ]; then args+=(-DCVMM_SOURCE_DIR="$src"); else args+=(-DCMAKE_PREFIX_PATH="$prefix"); fi
    cmake -S "$app" -B "$work" "${args[@]}" >/dev/null
    cmake --build "$work" >/dev/null ;;
  pkg-config)
    flags=()
    [ -n "$san" ] && flags=(-fsanitize="$san")
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Werror ${flags[@]+"${flags[@]}"} -o "$work/app" "$app/$lib.c" \
      $(pkg-config --cflags --libs --static "cvmm-$lib") -pthread ;;
  quickstart)
    cmake -S "$src/tests/consumers/quickstart" -B "$work" -DCVMM_SOURCE_DIR="$src" -DCMAKE_PREFIX_PATH="$prefix" \
          -DCVMM_SANITIZE="$san" >/dev/null
    cmake --build "$work" >/dev/null
    caps=$("$work/my-rng" --print-capabilities)
    grep -q '"type": "rng"' <<<"$caps" || { echo "quickstart: --print-capabilities said: $caps"; exit 1; }
    help=$("$work/my-rng" --help)
    grep -q -- '--socket-path=PATH' <<<"$help" || { echo "quickstart: --help said: $help"; exit 1; }
    if "$work/my-rng" --no-such-option 2>"$work/err"; then echo "quickstart: a bad option was accepted"; exit 1; fi
    grep -q 'unknown option' "$work/err" || { echo "quickstart: bad option said: $(cat "$work/err")"; exit 1; }
    echo "consumer quickstart: ok (built against $prefix; --help, --print-capabilities, bad option)"
    exit 0 ;;
  *) echo "consume.sh: unknown mode $mode" >&2; exit 2 ;;
esac
"$work/app"
