#!/usr/bin/env bash
# consume.sh MODE LIB SOURCE_DIR WORK_DIR PREFIX SANITIZE - build and run tests/consumers/app/LIB.c one way:
#   subdir: add_subdirectory(LIB); package: find_package(cvmm COMPONENTS LIB) against PREFIX;
#   pkg-config: cc + pkg-config --static cvmm-LIB.
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
  *) echo "consume.sh: unknown mode $mode" >&2; exit 2 ;;
esac
"$work/app"
