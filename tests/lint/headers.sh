#!/usr/bin/env bash
# headers.sh SOURCE_DIR - every public header of the four libraries (and base/) compiles alone, as the first
# include of a translation unit, as C11 and as C++17, with -Wall -Wextra -Werror (STYLE: "every header
# compiles alone and has extern "C" guards").  Prints one line per failure and "N passed, N failed".
set -uo pipefail
src=${1:?usage: headers.sh SOURCE_DIR}
cc=${CC:-cc} cxx=${CXX:-c++}
incs=()
for d in base vm-memory virtio-queue virtio-queue/mock vhost-user-proto vhost-user-backend; do
    incs+=(-I "$src/$d/include")
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
while IFS= read -r h; do
    rel=${h#*/include/}
    printf '#include <%s>\nint cvmm_header_check_%s;\n' "$rel" "$(printf '%s' "$rel" | tr -c 'A-Za-z0-9' _)" >"$work/t.c"
    cp "$work/t.c" "$work/t.cpp"
    if ! "$cc" -std=c11 -Wall -Wextra -Werror "${incs[@]}" -c "$work/t.c" -o "$work/t.o" 2>"$work/err"; then
        echo "FAIL $rel as C11:"; sed 's/^/    /' "$work/err" | head -n 20; fail=$((fail + 1)); continue
    fi
    if ! "$cxx" -std=c++17 -Wall -Wextra -Werror "${incs[@]}" -c "$work/t.cpp" -o "$work/t.o" 2>"$work/err"; then
        echo "FAIL $rel as C++17:"; sed 's/^/    /' "$work/err" | head -n 20; fail=$((fail + 1)); continue
    fi
    pass=$((pass + 1))
done < <(find "$src/base/include" "$src/vm-memory/include" "$src/virtio-queue/include" \
              "$src/virtio-queue/mock/include" "$src/vhost-user-proto/include" "$src/vhost-user-backend/include" \
              -name '*.h' | sort)
echo "headers: $pass passed, $fail failed"
[ "$fail" = 0 ]
