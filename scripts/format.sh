#!/usr/bin/env bash
# Layout is settled by .clang-format (CONTRIBUTING.md §"Layout"): every tracked C source and header.
#   scripts/format.sh          rewrite the files in place
#   scripts/format.sh --check  change nothing; list every file clang-format would change and fail if any
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "format: $cf not found (apt-get install clang-format)" >&2; exit 2; }
mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -path ./build -prune -o \( -name '*.c' -o -name '*.h' \) -print)
if [ "${1:-}" != "--check" ]; then
  "$cf" -i --style=file "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! "$cf" --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "format: $f differs from .clang-format (run scripts/format.sh)"
    bad=$((bad + 1))
  fi
done
echo "format: ${#files[@]} files checked, $bad to reformat"
[ "$bad" -eq 0 ]
