/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** benches/harness.h - the shared micro-benchmark harness (STYLE §13).
 *
 *  Each case is a function that runs @iters operations and returns the nanoseconds it spent on the timed
 *  part (so set-up such as refilling a ring can stay outside the clock: use bench_now_ns()).  The harness
 *  calibrates the iteration count to ~CVMM_BENCH_MS (default 300) milliseconds, runs one warm-up, then
 *  CVMM_BENCH_REPS (default 5) repetitions, and prints
 *      BENCH <case> <median ns/op> ns/op min=<ns> max=<ns> [<GB/s> GB/s]
 *  argv[1], if given, is a substring filter on case names.  Figures only: nothing passes or fails on time. */
#ifndef CVMM_BENCH_HARNESS_H
#define CVMM_BENCH_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint64_t bench_fn(void *arg, uint64_t iters);

static volatile uint64_t bench_sink_v;
/** bench_sink() - keep a result alive so the compiler cannot drop the work. */
static inline void bench_sink(uint64_t v) { bench_sink_v += v; }

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *bench_filter;

static inline void bench_init(int argc, char **argv)
{
    bench_filter = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline int bench_selected(const char *name) { return !bench_filter || strstr(name, bench_filter); }

static inline uint64_t bench_env(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : dflt;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/** bench_run() - calibrate, warm up, measure and print one case.  @bytes_per_op > 0 adds GB/s.
 *  Returns the median ns/op (0 if the case was filtered out). */
static inline double bench_run(const char *name, bench_fn *fn, void *arg, uint64_t bytes_per_op)
{
    if (!bench_selected(name))
        return 0;
    uint64_t target = bench_env("CVMM_BENCH_MS", 300) * 1000000ull;
    uint64_t reps = bench_env("CVMM_BENCH_REPS", 5);
    if (reps < 1)
        reps = 1;
    if (reps > 64)
        reps = 64;
    uint64_t iters = 1, t = 0;
    for (;;) { /* calibrate: grow until one run takes >= 1/8 of the target, then scale */
        t = fn(arg, iters);
        if (t >= target / 8 || iters >= (1ull << 40))
            break;
        iters *= t < target / 256 ? 16 : 2;
    }
    if (t > 0 && t < target) {
        double scale = (double)target / (double)t;
        iters = (uint64_t)((double)iters * scale);
        if (iters < 1)
            iters = 1;
    }
    (void)fn(arg, iters); /* warm-up */
    double v[64];
    for (uint64_t i = 0; i < reps; i++)
        v[i] = (double)fn(arg, iters) / (double)iters;
    qsort(v, reps, sizeof(v[0]), bench_cmp_double);
    double med = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
    if (bytes_per_op)
        printf("BENCH %s %.2f ns/op min=%.2f max=%.2f %.2f GB/s\n", name, med, v[0], v[reps - 1],
               (double)bytes_per_op / med);
    else
        printf("BENCH %s %.2f ns/op min=%.2f max=%.2f\n", name, med, v[0], v[reps - 1]);
    return med;
}

#endif
