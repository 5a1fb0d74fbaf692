/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* benches/bench-json.c - writes a benchmark run's results in the shared JSON schema (bench-json.h). */
#include "bench-json.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

struct result {
    char *case_name, *backend, *unit;
    double *runs;
    size_t n;
    bench_json_kv *extra; /* keys owned */
    size_t nextra;
};

/* One run per process: a benchmark program's state, not a library's. */
static struct run {
    char *path, *bench, *method, *cpu, *kernel;
    char date[32];
    long cores;
    double load1_start;
    struct result *res;
    size_t nres, cap;
} run;

static double load1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "re");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* "model name : AMD EPYC ..." from /proc/cpuinfo, else "unknown". */
static char *cpu_model(void)
{
    char line[512], *model = NULL;
    FILE *f = fopen("/proc/cpuinfo", "re");
    while (f && !model && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon)
            continue;
        char *s = colon + 1, *e = s + strlen(s);
        while (*s == ' ' || *s == '\t')
            s++;
        while (e > s && (e[-1] == '\n' || e[-1] == ' '))
            e--;
        model = strndup(s, (size_t)(e - s));
    }
    if (f)
        fclose(f);
    return model ? model : strdup("unknown");
}

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void put_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.10g", v);
    else
        fputs("null", f);
}

static void put_result(FILE *f, const struct result *r)
{
    double med, min, max;
    (void)bench_median(r->runs, r->n, &med, &min, &max);
    fputs("    {\"case\": ", f);
    put_str(f, r->case_name);
    fputs(", \"backend\": ", f);
    put_str(f, r->backend);
    fputs(", \"unit\": ", f);
    put_str(f, r->unit);
    fputs(", \"median\": ", f);
    put_num(f, med);
    fputs(", \"min\": ", f);
    put_num(f, min);
    fputs(", \"max\": ", f);
    put_num(f, max);
    fputs(", \"runs\": [", f);
    for (size_t i = 0; i < r->n; i++) {
        fputs(i ? ", " : "", f);
        put_num(f, r->runs[i]);
    }
    fputs("], \"extra\": {", f);
    for (size_t i = 0; i < r->nextra; i++) {
        fputs(i ? ", " : "", f);
        put_str(f, r->extra[i].key);
        fputs(": ", f);
        put_num(f, r->extra[i].value);
    }
    fputs("}}", f);
}

static void put_all(FILE *f)
{
    fputs("{\n  \"bench\": ", f);
    put_str(f, run.bench);
    fputs(",\n  \"date\": ", f);
    put_str(f, run.date);
    fputs(",\n  \"machine\": {\"cpu\": ", f);
    put_str(f, run.cpu);
    fprintf(f, ", \"cores\": %ld, \"kernel\": ", run.cores);
    put_str(f, run.kernel);
    fputs(", \"load1_start\": ", f);
    put_num(f, run.load1_start);
    fputs(", \"load1_end\": ", f);
    put_num(f, load1());
    fputs("},\n  \"method\": ", f);
    put_str(f, run.method);
    fputs(",\n  \"results\": [", f);
    for (size_t i = 0; i < run.nres; i++) {
        fputs(i ? ",\n" : "\n", f);
        put_result(f, &run.res[i]);
    }
    fputs(run.nres ? "\n  ]\n}\n" : "]\n}\n", f);
}

/* Write to PATH.tmp, then rename: a reader never sees half a file. */
static int write_file(void)
{
    size_t len = strlen(run.path) + 5;
    char *tmp = malloc(len);
    if (!tmp)
        return -ENOMEM;
    snprintf(tmp, len, "%s.tmp", run.path);
    int rc = 0;
    FILE *f = fopen(tmp, "we");
    if (!f) {
        rc = -errno;
    } else {
        put_all(f);
        if (ferror(f))
            rc = -EIO;
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, run.path) != 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
    }
    if (rc < 0)
        fprintf(stderr, "bench: cannot write %s: %s\n", run.path, strerror(-rc));
    free(tmp);
    return rc;
}

int bench_json_active(void) { return run.path != NULL; }

int bench_json_start(const char *path, const char *bench, const char *method)
{
    if (!path || !bench || !method)
        return -EINVAL;
    if (run.path)
        return -EALREADY;
    struct utsname u;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(run.date, sizeof(run.date), "%Y-%m-%dT%H:%M:%SZ", &tm);
    run.cores = sysconf(_SC_NPROCESSORS_ONLN);
    run.load1_start = load1();
    run.path = strdup(path);
    run.bench = strdup(bench);
    run.method = strdup(method);
    run.cpu = cpu_model();
    run.kernel = strdup(uname(&u) == 0 ? u.release : "unknown");
    int rc = -ENOMEM;
    if (!run.path || !run.bench || !run.method || !run.cpu || !run.kernel)
        fprintf(stderr, "bench: out of memory\n");
    else
        rc = write_file();
    if (rc < 0) { /* not started: free everything, so bench_json_active() says so */
        free(run.path);
        free(run.bench);
        free(run.method);
        free(run.cpu);
        free(run.kernel);
        run.path = run.bench = run.method = run.cpu = run.kernel = NULL;
    }
    return rc;
}

int bench_median(const double *v, size_t n, double *median, double *min, double *max)
{
    double s[1024];
    if (n == 0 || n > 1024)
        return -EINVAL;
    memcpy(s, v, n * sizeof(*v));
    for (size_t i = 1; i < n; i++) { /* insertion sort: n is a handful of repetitions */
        double x = s[i];
        size_t j = i;
        for (; j > 0 && s[j - 1] > x; j--)
            s[j] = s[j - 1];
        s[j] = x;
    }
    if (median)
        *median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    if (min)
        *min = s[0];
    if (max)
        *max = s[n - 1];
    return 0;
}

int bench_json_add(const char *case_name, const char *backend, const char *unit, const double *runs, size_t n,
                   const bench_json_kv *extra, size_t nextra)
{
    if (!run.path)
        return 0;
    if (!case_name || !backend || !unit || !runs || n == 0 || n > 1024 || (nextra && !extra))
        return -EINVAL;
    for (size_t i = 0; i < nextra; i++)
        if (!extra[i].key)
            return -EINVAL;
    if (run.nres == run.cap) {
        size_t cap = run.cap ? run.cap * 2 : 32;
        struct result *p = realloc(run.res, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        run.res = p;
        run.cap = cap;
    }
    struct result r = {.case_name = strdup(case_name),
                       .backend = strdup(backend),
                       .unit = strdup(unit),
                       .runs = malloc(n * sizeof(*runs)),
                       .n = n,
                       .extra = nextra ? calloc(nextra, sizeof(*extra)) : NULL,
                       .nextra = nextra};
    int ok = r.case_name && r.backend && r.unit && r.runs && (!nextra || r.extra);
    for (size_t i = 0; ok && i < nextra; i++) {
        r.extra[i].value = extra[i].value;
        ok = (r.extra[i].key = strdup(extra[i].key)) != NULL;
    }
    if (!ok) {
        for (size_t i = 0; r.extra && i < nextra; i++)
            free((char *)r.extra[i].key);
        free(r.extra);
        free(r.runs);
        free(r.unit);
        free(r.backend);
        free(r.case_name);
        fprintf(stderr, "bench: out of memory\n");
        return -ENOMEM;
    }
    memcpy(r.runs, runs, n * sizeof(*runs));
    run.res[run.nres++] = r;
    return write_file();
}

int bench_describe_affinity(char *buf, size_t len)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -errno;
    int count = CPU_COUNT(&set), n = snprintf(buf, len, count == 1 ? "pinned to CPU " : "not pinned (CPUs ");
    size_t off = n > 0 ? (size_t)n : 0;
    const char *sep = "";
    for (int c = 0; c < CPU_SETSIZE && off < len; c++) {
        if (!CPU_ISSET(c, &set) || (c > 0 && CPU_ISSET(c - 1, &set)))
            continue; /* each range once, at its first CPU */
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, &set))
            e++;
        n = e > c ? snprintf(buf + off, len - off, "%s%d-%d", sep, c, e)
                  : snprintf(buf + off, len - off, "%s%d", sep, c);
        off += n > 0 ? (size_t)n : 0;
        sep = ",";
    }
    if (off < len && count != 1)
        off += (size_t)snprintf(buf + off, len - off, ")");
    return off < len ? 0 : -ENOSPC;
}
