#!/usr/bin/env bash
# quirks.sh SRC BUILD - the quirks table (vhost-user-backend/src/quirks.c, cvmm/vub/quirks.h) is complete and
# honest:
#  - every id of enum vub_quirk_id has exactly one table entry whose .name spells it;
#  - every entry's .ctest is a test registered in BUILD (ctest -N), and its .test ("suite::name", if any)
#    is a Test()/ParameterizedTest() in the tree;
#  - every entry's .where file exists and names the id (the code site's comment);
#  - every VUB_QUIRK_ id mentioned anywhere in the tracked files is in the enum.
# Exit 0 when all hold; otherwise one line per problem on stderr and exit 1.
set -u
src=${1:?usage: quirks.sh SRC BUILD} build=${2:?usage: quirks.sh SRC BUILD}
hdr=$src/vhost-user-backend/include/cvmm/vub/quirks.h tab=$src/vhost-user-backend/src/quirks.c
bad=0
fail() { echo "quirks: $*" >&2; bad=1; }

mapfile -t ids < <(sed -n '/^enum vub_quirk_id {/,/^};/p' "$hdr" | grep -oE '^ *VUB_QUIRK_[A-Z0-9_]+' | tr -d ' ')
[ ${#ids[@]} -gt 0 ] || { echo "quirks: no ids in $hdr" >&2; exit 1; }
tests=$(ctest --test-dir "$build" -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: //p')
[ -n "$tests" ] || { echo "quirks: no tests registered in $build" >&2; exit 1; }

# One record per entry: id|name|where|ctest|test (the table has one field per line).
records=$(awk '
    function val(line) { sub(/^[^=]*= */, "", line); sub(/,$/, "", line); gsub(/"/, "", line); return line }
    /^ *\.id = /    { if (id != "") print id "|" name "|" where "|" ct "|" t; id = val($0); name = where = ct = t = "" }
    /^ *\.name = /  { name = val($0) }
    /^ *\.where = / { where = val($0) }
    /^ *\.ctest = / { ct = val($0) }
    /^ *\.test = /  { t = val($0) }
    END { if (id != "") print id "|" name "|" where "|" ct "|" t }' "$tab")

for id in "${ids[@]}"; do
    n=$(grep -c "^$id|" <<<"$records")
    [ "$n" = 1 ] || fail "$id has $n table entries (want 1)"
done
while IFS='|' read -r id name where ct t; do
    [ -n "$id" ] || continue
    printf '%s\n' "${ids[@]}" | grep -qx "$id" || fail "table entry $id is not in enum vub_quirk_id"
    [ "$name" = "$id" ] || fail "$id: .name is '$name'"
    if [ -z "$where" ] || [ ! -f "$src/$where" ]; then
        fail "$id: .where '$where' is not a file"
    elif ! grep -q "\b$id\b" "$src/$where"; then
        fail "$id: its code site $where does not name it"
    fi
    grep -qx -- "$ct" <<<"$tests" || fail "$id: ctest test '$ct' is not registered in $build"
    if [ -n "$t" ] && [ "$t" != NULL ]; then
        suite=${t%%::*} case=${t#*::}
        grep -rqE "(Test|ParameterizedTest)\( *$suite, *$case *[,)]" "$src/tests" "$src/fuzz" 2>/dev/null ||
            fail "$id: Test($suite, $case) is not in tests/"
    fi
done <<<"$records"

# Every id the tree mentions exists.
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    files=$(git -C "$src" ls-files --cached --others --exclude-standard | grep -v '^build/')
else
    files=$(cd "$src" && find . -path ./build -prune -o -type f -print)
fi
mentioned=$(cd "$src" && printf '%s\n' "$files" | tr '\n' '\0' | xargs -0 grep -ohE '\bVUB_QUIRK_[A-Z0-9_]+' 2>/dev/null | sort -u)
for m in $mentioned; do
    printf '%s\n' "${ids[@]}" | grep -qx "$m" || fail "$m is mentioned in $(cd "$src" && printf '%s\n' "$files" | tr '\n' '\0' | xargs -0 grep -lw "$m" | head -3 | tr '\n' ' ')but is not a quirk id"
done
[ $bad = 0 ] && echo "quirks: ${#ids[@]} quirks, every test, code site and mention checked"
exit $bad
