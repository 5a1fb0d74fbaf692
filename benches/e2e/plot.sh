#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# plot.sh IN.json OUT.svg|OUT.png - draws a benchmark results file (the shared schema, benches/README.md)
# with gnuplot: one group of bars per case, one bar per backend (the median) with a min-max error bar, the
# unit on the y axis (logarithmic when the figures span more than 100x), the bench, machine and date in the
# title, the method under the plot.  A file with several units gets one panel per unit.  The output's
# extension picks the format: .svg (gnuplot's svg terminal) or .png (pngcairo, else png).
# Exit: 0 drawn; 1 bad input (check-json.py says why) or gnuplot failed; 2 usage; 3 gnuplot missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-$([ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3)} # Debian's, not a slow shim
usage() { sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -eq 2 ] || usage
in=$1 out=$2
case $out in
  *.svg) term=svg ;;
  *.png) term=png ;;
  *) echo "plot.sh: $out: the output must end in .svg or .png" >&2; exit 2 ;;
esac
if ! command -v gnuplot >/dev/null; then
  echo "plot.sh: gnuplot not found (Debian: apt-get install gnuplot-nox)" >&2
  exit 3
fi
if [ "$term" = png ]; then
  if gnuplot -e 'set terminal' 2>&1 | grep -qw pngcairo; then term=pngcairo; fi
fi
"$py" "$here/../check-json.py" "$in" || { echo "plot.sh: $in is not a results file; nothing drawn" >&2; exit 1; }
script=$(mktemp "${TMPDIR:-/tmp}/cvmm-plot.XXXXXX")
trap 'rm -f "$script"' EXIT
"$py" "$here/plot.py" "$in" "$out" "$term" >"$script"
if ! gnuplot "$script" 2>"$script.err"; then
  cat "$script.err" >&2
  rm -f "$script.err" "$out"
  echo "plot.sh: gnuplot failed to draw $in" >&2
  exit 1
fi
# gnuplot warns on stderr (e.g. an empty range) without failing: show it, still a plot.
[ -s "$script.err" ] && sed 's/^/plot.sh: gnuplot: /' "$script.err" >&2
rm -f "$script.err"
[ -s "$out" ] || { echo "plot.sh: gnuplot wrote nothing to $out" >&2; exit 1; }
