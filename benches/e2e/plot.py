#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""plot.py IN.json OUT.svg|OUT.png TERMINAL - prints the gnuplot script that draws a results file.

Called by plot.sh after check-json.py accepted IN.json.  Grouped bars: one group per case, one bar per
backend (the median), min-max error bars; one panel per unit (multiplot) when the file has several; a
logarithmic y axis when a panel's figures span more than LOG_SPAN; the bench, machine and date in the title
and the method sentence under the plot."""
import json
import sys
import textwrap

LOG_SPAN = 100.0  # a panel whose largest max / smallest min exceeds this gets a log y axis


def gp_str(s):
    """A gnuplot single-quoted string (no escapes inside; a quote is doubled)."""
    return "'" + str(s).replace("'", "''") + "'"


def gp_dstr(s):
    """A gnuplot double-quoted string, where \\n is a line break."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def data_str(s):
    """A quoted data-file column: gnuplot has no escape for '"' inside one."""
    return '"' + str(s).replace('"', "'") + '"'


def first_seen(items):
    out = []
    for x in items:
        if x not in out:
            out.append(x)
    return out


def panel(lines, idx, unit, results, colour):
    cases = first_seen(r["case"] for r in results)
    backends = first_seen(r["backend"] for r in results)
    by = {(r["case"], r["backend"]): r for r in results}
    lines.append(f"$d{idx} << EOD")
    for c in cases:
        row = [data_str(c)]
        for b in backends:
            r = by.get((c, b))
            row += [repr(float(r[k])) for k in ("median", "min", "max")] if r else ["?", "?", "?"]
        lines.append(" ".join(row))
    lines.append("EOD")
    lo = min(r["min"] for r in results)
    hi = max(r["max"] for r in results)
    if lo > 0 and hi / lo > LOG_SPAN:
        lines += ["set logscale y 10", f"set yrange [{lo / 2!r}:{hi * 2!r}]", f"set ylabel {gp_str(unit + ' (log scale)')}"]
    else:
        lines += ["unset logscale y", f"set yrange [{min(0.0, lo * 1.1)!r}:{hi * 1.1 if hi > 0 else 1.0!r}]",
                  f"set ylabel {gp_str(unit)}"]
    plots = []
    for i, b in enumerate(backends):
        col = 2 + 3 * i
        src = f"$d{idx}" if i == 0 else "''"
        xtic = ":xtic(1)" if i == 0 else ""
        plots.append(f"{src} using {col}:{col + 1}:{col + 2}{xtic} title {gp_str(b)} lc {colour[b]}")
    lines.append("plot " + ", \\\n     ".join(plots))


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, out, term = argv
    with open(src, encoding="utf-8") as f:
        doc = json.load(f)
    res = doc["results"]
    units = first_seen(r["unit"] for r in res)
    ncases = max(len(first_seen(r["case"] for r in res if r["unit"] == u)) for u in units)
    nback = len(first_seen(r["backend"] for r in res))
    width = max(800, min(4000, 200 + ncases * (16 * nback + 24)))
    height = 120 + 440 * len(units) + 8 * max(len(r["case"]) for r in res)
    m = doc["machine"]
    title = (f"{doc['bench']}: {m['cpu']}, {m['cores']} cores, kernel {m['kernel']}, "
             f"load {m['load1_start']:g} to {m['load1_end']:g}; {doc['date']}")
    method = textwrap.wrap("method: " + doc["method"], max(60, width // 6))
    longest = max(len(r["case"]) for r in res)
    lines = [
        f"set terminal {term} size {width},{height} noenhanced font 'sans,10'",
        f"set output {gp_str(out)}",
        "set datafile missing '?'",
        "set style data histograms",
        "set style histogram errorbars gap 1 lw 1",
        "set style fill solid 0.75 border -1",
        "set boxwidth 0.9",
        "set key outside top right",
        "set grid ytics",
        "set xtics nomirror rotate by -40 left",
        f"set bmargin {3 + len(method) + int(longest * 0.4)}",
        "set lmargin 12",
        f"set label 1 {gp_dstr(chr(10).join(method))} at screen 0.01, screen {(6 + 11 * (len(method) - 1)) / height!r} "
        "left front font 'sans,8'",
    ]
    if len(units) > 1:
        lines.append(f"set multiplot layout {len(units)},1 title {gp_str(title)}")
    else:
        lines.append(f"set title {gp_str(title)}")
    colour = {b: i + 1 for i, b in enumerate(first_seen(r["backend"] for r in res))}  # same in every panel
    for i, u in enumerate(units):
        panel(lines, i, u, [r for r in res if r["unit"] == u], colour)
        if i == 0:
            lines.append("unset label 1")  # the method once, at the bottom of the first panel's screen
    if len(units) > 1:
        lines.append("unset multiplot")
    lines.append("set output")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
