#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
# blk-summary.py RUNS.tsv META.json [OUT.json] - the table (stdout) and the results file (the shared schema,
# benches/README.md) of one benches/e2e/blk.sh run.  RUNS.tsv: one line per measurement, tab-separated:
# case, backend, IOPS, p50 us, p99 us.  META.json: bench, date, machine, method, backends (in table order).
# Cases keep the order of their first line; each cell is the median (min-max) over the rounds.
import json
import statistics
import sys


def fmt_iops(v):
    return f"{v / 1000:.1f}k" if v >= 10000 else f"{v:.0f}"


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: blk-summary.py RUNS.tsv META.json [OUT.json]")
    meta = json.load(open(sys.argv[2]))
    runs = {}  # (case, backend) -> [(iops, p50, p99)]
    cases = []
    for line in open(sys.argv[1]):
        f = line.rstrip("\n").split("\t")
        if len(f) != 5:
            continue
        case, backend = f[0], f[1]
        if case not in cases:
            cases.append(case)
        runs.setdefault((case, backend), []).append(tuple(float(x) for x in f[2:]))
    backends = meta["backends"]
    results = []
    head = f"{'case':<26}" + "".join(f"{b + ' IOPS (min-max)':>36}{'p50/p99 us':>16}" for b in backends)
    if len(backends) == 2:
        head += f"{'ratio':>8}"
    print(head)
    for case in cases:
        row, med = f"{case:<26}", {}
        for b in backends:
            r = runs.get((case, b))
            if not r:
                row += f"{'-':>36}{'-':>16}"
                continue
            iops = [x[0] for x in r]
            med[b] = statistics.median(iops)
            p50, p99 = statistics.median(x[1] for x in r), statistics.median(x[2] for x in r)
            cell = f"{fmt_iops(med[b])} ({fmt_iops(min(iops))}-{fmt_iops(max(iops))})"
            row += f"{cell:>36}{f'{p50:.0f}/{p99:.0f}':>16}"
            results.append({"case": case, "backend": b, "unit": "kIOPS",
                            "median": round(med[b] / 1000, 3), "min": round(min(iops) / 1000, 3),
                            "max": round(max(iops) / 1000, 3), "runs": [round(x / 1000, 3) for x in iops],
                            "extra": {"p50_us": round(p50, 2), "p99_us": round(p99, 2),
                                      "p50_us_runs": [x[1] for x in r], "p99_us_runs": [x[2] for x in r]}})
        if len(backends) == 2 and all(med.get(b) for b in backends):
            row += f"{med[backends[0]] / med[backends[1]]:>7.2f}x"
        print(row)
    if len(backends) == 2:
        print(f"ratio: {backends[0]} / {backends[1]}, medians.  Goal (issue 14): >= 1.00x at qd1, >= 1.30x at qd32.")
    if len(sys.argv) == 4:
        out = {k: meta[k] for k in ("bench", "date", "machine", "method")}
        out["results"] = results
        with open(sys.argv[3], "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
