/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** benches/harness.h - the shared micro-benchmark harness (STYLE §13).
 *
 *  Each case is a function that runs @iters operations and returns the nanoseconds it spent on the timed
 *  part (so set-up such as refilling a ring can stay outside the clock: use bench_now_ns()).  The harness
 *  calibrates the iteration count to ~CVMM_BENCH_MS (default 300) milliseconds, runs one warm-up, then
 *  CVMM_BENCH_REPS (default 5) repetitions, and prints
 *      BENCH <case> <median ns/op> ns/op min=<ns> max=<ns> [<GB/s> GB/s]
 *  Arguments: [--json FILE] [FILTER]: FILTER is a substring filter on case names; --json FILE (or the
 *  environment's CVMM_BENCH_JSON=FILE) also writes every case as JSON in the shared schema (bench-json.h,
 *  benches/README.md): bench "micro-<library>", backend "cvmm", unit "ns/op", one run per repetition, and
 *  extra {"GB/s", "iters"}; CVMM_BENCH_NOTE=TEXT is appended to its method sentence (e.g. "loaded
 *  machine").  Figures only: nothing passes or fails on time. */
#ifndef CVMM_BENCH_HARNESS_H
#define CVMM_BENCH_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench-json.h"

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

static inline uint64_t bench_env(const char *name, uint64_t dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtoull(s, NULL, 10) : dflt;
}

/* Starts the JSON file: bench "micro-<x>" for a program named bench-<x>, and the method sentence. */
static inline void bench_json_begin(const char *path, const char *argv0)
{
    const char *base = strrchr(argv0, '/') ? strrchr(argv0, '/') + 1 : argv0;
    char bench[128], cpus[256], method[1024];
    snprintf(bench, sizeof(bench), "%s%s", strncmp(base, "bench-", 6) ? "" : "micro-",
             strncmp(base, "bench-", 6) ? base : base + 6);
    if (bench_describe_affinity(cpus, sizeof(cpus)) < 0)
        snprintf(cpus, sizeof(cpus), "affinity unknown");
    const char *note = getenv("CVMM_BENCH_NOTE");
#ifdef __OPTIMIZE__
    const char *build = "optimised build";
#else
    const char *build = "unoptimised build (-O0)";
#endif
#ifdef __SANITIZE_ADDRESS__
    const char *san = " with AddressSanitizer";
#else
    const char *san = "";
#endif
    snprintf(method, sizeof(method),
             "benches/harness.h: per case one batch calibrated to %llu ms, 1 warm-up batch, then %llu timed "
             "batches (runs: ns/op of each); %s; %s%s%s%s",
             (unsigned long long)bench_env("CVMM_BENCH_MS", 300), (unsigned long long)bench_env("CVMM_BENCH_REPS", 5),
             cpus, build, san, note && *note ? "; " : "", note ? note : "");
    if (bench_json_start(path, bench, method) < 0)
        exit(2); /* bench_json_start() said why */
}

static inline void bench_init(int argc, char **argv)
{
    const char *json = getenv("CVMM_BENCH_JSON");
    bench_filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json = argv[++i];
        else if (strncmp(argv[i], "--json=", 7) == 0)
            json = argv[i] + 7;
        else if (argv[i][0] == '-' || bench_filter) {
            fprintf(stderr, "usage: %s [--json FILE] [FILTER]\n", argv[0]);
            exit(2);
        } else
            bench_filter = argv[i];
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (json && *json)
        bench_json_begin(json, argv[0]);
}

static inline int bench_selected(const char *name) { return !bench_filter || strstr(name, bench_filter); }

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
    double v[64], med, min, max;
    for (uint64_t i = 0; i < reps; i++)
        v[i] = (double)fn(arg, iters) / (double)iters;
    (void)bench_median(v, reps, &med, &min, &max);
    if (bytes_per_op)
        printf("BENCH %s %.2f ns/op min=%.2f max=%.2f %.2f GB/s\n", name, med, min, max, (double)bytes_per_op / med);
    else
        printf("BENCH %s %.2f ns/op min=%.2f max=%.2f\n", name, med, min, max);
    bench_json_kv extra[] = {{"iters", (double)iters}, {"GB/s", (double)bytes_per_op / med}};
    if (bench_json_add(name, "cvmm", "ns/op", v, reps, extra, bytes_per_op ? 2 : 1) < 0) {
        fflush(stdout);
        _exit(2); /* bench_json_add() said why; _exit: the bench's threads may still run */
    }
    return med;
}

#endif
