/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* bench-blk-driver - drive any vhost-user-blk back-end through its socket, as QEMU's vhost-user-blk plus a
 * guest's virtio-blk driver would, and measure 4 KiB random reads or writes at a queue depth: IOPS and
 * p50/p99 latency.  One thread per queue (blk-queue.c), the session in blk-session.c.  Every completion
 * is checked; a back-end that misbehaves makes the run fail (exit 2) instead of giving a figure.
 * benches/e2e/blk.sh runs it against cvmm-blk and qemu-storage-daemon (benches/README.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk-driver.h"

static const char usage[] =
    "usage: bench-blk-driver --socket PATH [--rw read|write] [--qd N] [--queues N] [--window S] [--warmup S]\n"
    "                        [--blocks N] [--queue-size N] [--stall S] [--no-event-idx] [--no-inflight]\n"
    "                        [--label NAME] [--verbose]\n"
    "       bench-blk-driver --make-file PATH --size BYTES[K|M|G]\n"
    "Runs 4 KiB random reads (checked against the pattern --make-file wrote) or writes (of that pattern) at\n"
    "queue depth N per queue for S seconds after a warm-up, one thread per queue waiting on its call eventfd;\n"
    "prints IOPS and p50/p99 latency, and a line 'RESULT key=value...'.  Exit 0; 1 usage or set-up error;\n"
    "2 the back-end misbehaved (wrong used id, used length, status or data; no completion for --stall S).\n"
    "Defaults: --rw read --qd 1 --queues 1 --window 5 --warmup 1 --queue-size 256 --stall 30, the whole disk.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ull << 10;
    else if (*end == 'M' || *end == 'm')
        mul = 1ull << 20;
    else if (*end == 'G' || *end == 'g')
        mul = 1ull << 30;
    if (mul != 1)
        end++;
    if (errno || end == s || *end || s[0] == '-' || x > UINT64_MAX / mul)
        return -EINVAL;
    *v = x * mul;
    return 0;
}

static int parse_seconds(const char *s, uint64_t *ns)
{
    char *end;
    double d = strtod(s, &end);
    if (end == s || *end || !(d >= 0) || d > 86400)
        return -EINVAL;
    *ns = (uint64_t)(d * 1e9);
    return 0;
}

/* --make-file: the pattern over floor(size / 4 KiB) blocks of a file or block device. */
static int make_file(const char *path, uint64_t size)
{
    enum { CHUNK = 256 };
    uint64_t blocks = size / BD_BLOCK;
    uint8_t *buf = malloc((size_t)CHUNK * BD_BLOCK);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    int rc = buf && fd >= 0 ? 0 : 1;
    if (fd < 0)
        fprintf(stderr, "bench-blk-driver: %s: %s\n", path, strerror(errno));
    for (uint64_t b = 0; rc == 0 && b < blocks; b += CHUNK) {
        uint64_t n = blocks - b < CHUNK ? blocks - b : CHUNK;
        for (uint64_t i = 0; i < n; i++)
            bd_pattern_fill(b + i, buf + i * BD_BLOCK);
        if (pwrite(fd, buf, n * BD_BLOCK, (off_t)(b * BD_BLOCK)) != (ssize_t)(n * BD_BLOCK)) {
            fprintf(stderr, "bench-blk-driver: writing %s: %s\n", path, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0 && fdatasync(fd) < 0) {
        fprintf(stderr, "bench-blk-driver: fdatasync %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    if (rc == 0)
        printf("bench-blk-driver: %s: pattern written over %llu blocks of 4 KiB\n", path, (unsigned long long)blocks);
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

static void *queue_thread(void *arg)
{
    (void)bd_queue_run(arg);
    return NULL;
}

/* Run the queues; print the figures.  Return: the exit status. */
static int run(bd_session *s, const bd_opts *o, const char *label)
{
    bd_hist *all = calloc(1, sizeof(*all));
    pthread_t th[BD_MAX_QUEUES];
    unsigned started = 0;
    int rc = all ? 0 : 1;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t0 = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    for (unsigned i = 0; rc == 0 && i < o->queues; i++) {
        bd_queue *q = &s->q[i];
        q->slot_of = calloc(o->queue_size, sizeof(*q->slot_of));
        q->block = calloc(o->qd, sizeof(*q->block));
        q->t_submit = calloc(o->qd, sizeof(*q->t_submit));
        q->t_start = t0 + o->warmup_ns;
        q->t_end = q->t_start + o->window_ns;
        if (!q->slot_of || !q->block || !q->t_submit || pthread_create(&th[i], NULL, queue_thread, q) != 0) {
            fprintf(stderr, "bench-blk-driver: cannot start queue %u\n", i);
            atomic_store(&s->abort, true);
            rc = 1;
        } else {
            started++;
        }
    }
    uint64_t done = 0, total = 0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        bd_queue *q = &s->q[i];
        done += q->done;
        total += q->total;
        bd_hist_merge(all, &q->hist);
    }
    for (unsigned i = 0; i < started; i++) /* the first real error; "another queue failed" lines after it */
        if (s->q[i].err[0] && !strstr(s->q[i].err, "another queue failed"))
            fprintf(stderr, "bench-blk-driver: error: %s\n", s->q[i].err), rc = 2;
    if (rc == 0) {
        double w = (double)o->window_ns / 1e9, iops = w > 0 ? (double)done / w : 0;
        double p50 = bd_hist_quantile(all, 0.50) / 1e3, p99 = bd_hist_quantile(all, 0.99) / 1e3;
        const char *rw = o->write ? "write" : "read";
        printf("bench-blk-driver: %s %s qd=%u queues=%u: %.0f IOPS, p50 %.1f us, p99 %.1f us "
               "(%llu requests in %.2f s, %llu checked)\n",
               label, rw, o->qd, o->queues, iops, p50, p99, (unsigned long long)done, w, (unsigned long long)total);
        printf("RESULT label=%s rw=%s qd=%u queues=%u iops=%.1f p50_us=%.2f p99_us=%.2f requests=%llu checked=%llu "
               "window_s=%.3f\n",
               label, rw, o->qd, o->queues, iops, p50, p99, (unsigned long long)done, (unsigned long long)total, w);
    }
    for (unsigned i = 0; i < o->queues; i++) {
        free(s->q[i].slot_of);
        free(s->q[i].block);
        free(s->q[i].t_submit);
    }
    free(all);
    return rc;
}

static void log_stderr(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    (void)lvl;
    fprintf(stderr, "bench-blk-driver: %s\n", line);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"socket", 1, NULL, 's'},
                                       {"rw", 1, NULL, 'r'},
                                       {"qd", 1, NULL, 'q'},
                                       {"queues", 1, NULL, 'n'},
                                       {"window", 1, NULL, 'w'},
                                       {"warmup", 1, NULL, 'u'},
                                       {"blocks", 1, NULL, 'b'},
                                       {"queue-size", 1, NULL, 'z'},
                                       {"stall", 1, NULL, 't'},
                                       {"no-event-idx", 0, NULL, 'E'},
                                       {"no-inflight", 0, NULL, 'I'},
                                       {"label", 1, NULL, 'l'},
                                       {"verbose", 0, NULL, 'v'},
                                       {"make-file", 1, NULL, 'm'},
                                       {"size", 1, NULL, 'S'},
                                       {"help", 0, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    struct cvmm_log log = {.fn = log_stderr, .level = CVMM_LOG_WARN};
    bd_opts o = {.qd = 1,
                 .queues = 1,
                 .queue_size = 256,
                 .window_ns = 5000000000ull,
                 .warmup_ns = 1000000000ull,
                 .stall_ns = 30000000000ull,
                 .event_idx = true,
                 .inflight = true,
                 .log = &log};
    const char *label = "backend", *make = NULL;
    uint64_t v, size = 0;
    int c, bad = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 's': o.socket = optarg; break;
        case 'r':
            o.write = strcmp(optarg, "write") == 0;
            bad |= !o.write && strcmp(optarg, "read") != 0;
            break;
        case 'q': bad |= parse_u64(optarg, &v) < 0 || v < 1 || v > BD_MAX_QD, o.qd = (unsigned)v; break;
        case 'n': bad |= parse_u64(optarg, &v) < 0 || v < 1 || v > BD_MAX_QUEUES, o.queues = (unsigned)v; break;
        case 'z':
            bad |= parse_u64(optarg, &v) < 0 || v < 2 || v > 1024 || (v & (v - 1)), o.queue_size = (uint32_t)v;
            break;
        case 'b': bad |= parse_u64(optarg, &o.blocks) < 0; break;
        case 'w': bad |= parse_seconds(optarg, &o.window_ns) < 0; break;
        case 'u': bad |= parse_seconds(optarg, &o.warmup_ns) < 0; break;
        case 't': bad |= parse_seconds(optarg, &o.stall_ns) < 0; break;
        case 'E': o.event_idx = false; break;
        case 'I': o.inflight = false; break;
        case 'l': label = optarg; break;
        case 'v': log.level = CVMM_LOG_DEBUG; break;
        case 'm': make = optarg; break;
        case 'S': bad |= parse_u64(optarg, &size) < 0; break;
        case 'h': fputs(usage, stdout); return 0;
        default: bad = 1;
        }
    }
    if (make && !bad && optind == argc && size >= BD_BLOCK)
        return make_file(make, size);
    if (bad || make || optind != argc || !o.socket || o.qd > o.queue_size) {
        fprintf(stderr, "%s%s", o.qd > o.queue_size ? "bench-blk-driver: --qd exceeds --queue-size\n" : "", usage);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    bd_session *s = calloc(1, sizeof(*s));
    if (!s)
        return 1;
    double t = now_s();
    int rc = bd_session_open(s, &o) < 0 ? 1 : 0;
    if (rc == 0) {
        if (log.level == CVMM_LOG_DEBUG)
            fprintf(stderr, "bench-blk-driver: session up in %.3f s: features %#llx, protocol %#llx, %llu blocks\n",
                    now_s() - t, (unsigned long long)s->features, (unsigned long long)s->protocol,
                    (unsigned long long)s->blocks);
        rc = run(s, &o, label);
        bd_session_close(s);
    }
    free(s);
    return rc;
}
