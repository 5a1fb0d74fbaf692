/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** benches/bench-json.h - one benchmark run's results as JSON in the shared schema (benches/README.md).
 *
 *  {"bench", "date", "machine": {"cpu", "cores", "kernel", "load1_start", "load1_end"}, "method",
 *   "results": [{"case", "backend", "unit", "median", "min", "max", "runs": [...], "extra": {...}}]}
 *
 *  The whole file is rewritten (to a temporary file, then renamed over it) after every result, so it always
 *  parses and holds every case finished so far, even if the bench dies half-way.  Benchmark programs only:
 *  the state is one per process (not a library; STYLE §9 does not apply).  Threads: the calling thread, one
 *  at a time. */
#ifndef CVMM_BENCH_JSON_H
#define CVMM_BENCH_JSON_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One entry of a result's free-form "extra" object: a number under a name. */
typedef struct bench_json_kv {
    const char *key;
    double value;
} bench_json_kv;

/** bench_json_start() - record the start of a run and write the file with no results yet.
 *  @path: the JSON file; @bench: e.g. "micro-vm-memory"; @method: one sentence (pinning, repetitions).
 *  Reads the machine (model name from /proc/cpuinfo, online CPUs, uname -r, /proc/loadavg) and the UTC time.
 *  Return: 0; -EALREADY already started; -ENOMEM; -errno of creating or renaming the file (logged to stderr).
 *  Ownership: the strings are copied. */
int bench_json_start(const char *path, const char *bench, const char *method);

/** bench_json_active() - true between a successful bench_json_start() and the end of the process. */
int bench_json_active(void);

/** bench_json_add() - append one result and rewrite the file.  @runs: @n >= 1 figures in the order measured;
 *  median, min and max are computed from them.  @extra: @nextra named numbers, or NULL.  Non-finite numbers
 *  are written as null (which the checker rejects).
 *  Return: 0, also when no run was started (nothing to do); -EINVAL n == 0 or a NULL string; -ENOMEM;
 *  -errno of writing the file (logged to stderr).  Ownership: everything is copied. */
int bench_json_add(const char *case_name, const char *backend, const char *unit, const double *runs, size_t n,
                   const bench_json_kv *extra, size_t nextra);

/** bench_median() - median of @n >= 1 figures (mean of the middle two for even n); min and max if the
 *  pointers are not NULL.  @v is not modified.  Return: 0; -EINVAL n == 0 or n > 1024. */
int bench_median(const double *v, size_t n, double *median, double *min, double *max);

/** bench_describe_affinity() - the calling thread's CPU affinity for a method sentence: "pinned to CPU 1"
 *  or "not pinned (CPUs 0-1)".  Return: 0; -errno of sched_getaffinity(); -ENOSPC @buf too small. */
int bench_describe_affinity(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
