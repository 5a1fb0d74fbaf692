#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause
"""Checks a benchmark results file against the shared schema (benches/README.md, "Results as JSON").

  check-json.py [--bench-lines FILE] [--nonzero] JSON
      JSON is well-formed and has every field the schema names, with the right types; numbers are finite;
      min <= median <= max agree with "runs"; no (case, backend) twice.  --bench-lines FILE: the BENCH lines
      a micro bench printed (its stdout) name exactly the JSON's cases, with the same median/min/max.
      --nonzero: every median is > 0 (a smoke run: each case produced something).
  check-json.py --run BENCH [ARGS...]
      runs BENCH ARGS --json TMP (a micro bench: CVMM_BENCH_MS/REPS from the environment), passes its
      output through, then checks TMP against its BENCH lines as above, with --nonzero.

Exit status 0 if all is well; 1 with one line per problem on stderr; 2 on bad usage."""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BENCH = re.compile(r"^BENCH (\S+) (\S+) ns/op min=(\S+) max=(\S+)(?: (\S+) GB/s)?$")


def no_constants(name):
    raise ValueError(f"{name} is not a JSON number")


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def close(a, b):
    """BENCH lines print %.2f: equal to that precision (or 1e-4 relative for big figures)."""
    return abs(a - b) <= max(0.0051, 1e-4 * abs(b))


def check_doc(doc, errs):
    if not isinstance(doc, dict):
        errs.append("top level is not an object")
        return []
    for key in ("bench", "method"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            errs.append(f'"{key}" is missing or not a non-empty string')
    if not isinstance(doc.get("date"), str) or not DATE.match(doc.get("date", "")):
        errs.append('"date" is missing or not UTC like 2026-12-03T23:10:00Z')
    m = doc.get("machine")
    if not isinstance(m, dict):
        errs.append('"machine" is missing or not an object')
    else:
        for key in ("cpu", "kernel"):
            if not isinstance(m.get(key), str) or not m.get(key):
                errs.append(f'"machine.{key}" is missing or not a non-empty string')
        if not isinstance(m.get("cores"), int) or isinstance(m.get("cores"), bool) or m["cores"] < 1:
            errs.append('"machine.cores" is missing or not a positive integer')
        for key in ("load1_start", "load1_end"):
            if not is_num(m.get(key)):
                errs.append(f'"machine.{key}" is missing or not a number')
    res = doc.get("results")
    if not isinstance(res, list) or not res:
        errs.append('"results" is missing, not a list, or empty')
        return []
    seen = set()
    for i, r in enumerate(res):
        where = f"results[{i}]"
        if not isinstance(r, dict):
            errs.append(f"{where} is not an object")
            continue
        for key in ("case", "backend", "unit"):
            if not isinstance(r.get(key), str) or not r.get(key):
                errs.append(f'{where}: "{key}" is missing or not a non-empty string')
        where = f'{where} ({r.get("case")}/{r.get("backend")})'
        if (r.get("case"), r.get("backend")) in seen:
            errs.append(f"{where}: case and backend appear twice")
        seen.add((r.get("case"), r.get("backend")))
        nums = [k for k in ("median", "min", "max") if not is_num(r.get(k))]
        for key in nums:
            errs.append(f'{where}: "{key}" is missing or not a finite number')
        runs = r.get("runs")
        if not isinstance(runs, list) or not runs or not all(is_num(x) for x in runs):
            errs.append(f'{where}: "runs" is missing, empty, or holds a non-number')
        elif not nums:
            if not r["min"] <= r["median"] <= r["max"]:
                errs.append(f"{where}: not min <= median <= max")
            if not (close(min(runs), r["min"]) and close(max(runs), r["max"])):
                errs.append(f'{where}: min/max do not match "runs"')
        if "extra" in r and not isinstance(r["extra"], dict):
            errs.append(f'{where}: "extra" is not an object')
    return res


def check_bench_lines(res, text, errs):
    lines = {}
    for line in text.splitlines():
        if not line.startswith("BENCH "):
            continue
        m = BENCH.match(line)
        if not m:
            errs.append(f"malformed BENCH line: {line}")
            continue
        lines[m.group(1)] = [float(m.group(g)) for g in (2, 3, 4)]
    if not lines:
        errs.append("the bench printed no BENCH line")
    by_case = {r.get("case"): r for r in res if isinstance(r, dict)}
    for name in sorted(set(lines) - set(by_case)):
        errs.append(f"BENCH line {name} has no result in the JSON")
    for name in sorted(set(by_case) - set(lines)):
        errs.append(f"JSON result {name} has no BENCH line")
    for name in sorted(set(lines) & set(by_case)):
        r = by_case[name]
        if r.get("unit") != "ns/op":
            errs.append(f'{name}: unit is {r.get("unit")!r}, the BENCH line says ns/op')
        got = [r.get(k) for k in ("median", "min", "max")]
        if all(is_num(v) for v in got) and not all(close(a, b) for a, b in zip(got, lines[name])):
            errs.append(f"{name}: JSON median/min/max {got} differ from the BENCH line's {lines[name]}")


def check_file(path, bench_text, nonzero):
    errs = []
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f, parse_constant=no_constants)
    except (OSError, ValueError) as e:
        return [f"{path}: not readable JSON: {e}"]
    res = check_doc(doc, errs)
    if bench_text is not None:
        check_bench_lines(res, bench_text, errs)
    if nonzero:
        for r in res:
            if isinstance(r, dict) and is_num(r.get("median")) and r["median"] <= 0:
                errs.append(f'{r.get("case")}/{r.get("backend")}: median is {r["median"]}, nothing was measured')
    return [f"{path}: {e}" for e in errs]


def run_bench(argv):
    with tempfile.TemporaryDirectory(prefix="cvmm-bench-json.") as d:
        out = os.path.join(d, "results.json")
        p = subprocess.run(argv + ["--json", out], stdout=subprocess.PIPE, text=True, check=False)
        sys.stdout.write(p.stdout)
        if p.returncode != 0:
            return [f"{argv[0]} exited with status {p.returncode}"]
        return check_file(out, p.stdout, True)


def main(args):
    if args[:1] == ["--run"] and len(args) > 1:
        errs = run_bench(args[1:])
    else:
        bench_lines, nonzero, files = None, False, []
        while args:
            a = args.pop(0)
            if a == "--bench-lines" and args:
                with open(args.pop(0), encoding="utf-8") as f:
                    bench_lines = f.read()
            elif a == "--nonzero":
                nonzero = True
            elif a.startswith("-") or files:
                print(__doc__, file=sys.stderr)
                return 2
            else:
                files.append(a)
        if not files:
            print(__doc__, file=sys.stderr)
            return 2
        errs = check_file(files[0], bench_lines, nonzero)
    for e in errs:
        print(f"check-json: {e}", file=sys.stderr)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
