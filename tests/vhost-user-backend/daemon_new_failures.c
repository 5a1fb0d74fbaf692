/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vub_daemon_new() failing part way: every allocation it makes on the calling thread, and every worker
 * thread it starts, is made to fail in turn.  Each attempt must return the documented errno (-ENOMEM,
 * -EAGAIN), leave *out NULL, log where a thread could not start, and leave nothing behind: no fd, no thread,
 * and no block it allocated on this thread.
 *
 * The test binary interposes malloc(), calloc(), free() and pthread_create() (the library has no allocator
 * hook, by design, as in tests/vm-memory/nomem.c).  Only the test thread's calls fail, so the numbers do not
 * depend on what other threads do meanwhile.  Sanitizer builds own malloc, so there the test is skipped. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cvmm/vub.h"
#include "cvmm_test_fds.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NOMEM_SKIP 1
#else
#define NOMEM_SKIP 0
#endif

static _Thread_local bool armed;          /* this thread's allocations are counted and may fail */
static _Thread_local int allow;           /* allocations that still succeed while armed */
static _Thread_local int threads_allowed; /* pthread_create calls that still succeed while armed; -1: all */

/* Blocks allocated by an armed thread and not freed yet (by any thread). */
#define LIVE_MAX 4096
static atomic_flag live_lock = ATOMIC_FLAG_INIT;
static int nlive;

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&live_lock, memory_order_acquire))
        ;
}
static void unlock(void) { atomic_flag_clear_explicit(&live_lock, memory_order_release); }

#if !NOMEM_SKIP
static void *live[LIVE_MAX];

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
extern void __libc_free(void *p);

static void *track(void *p)
{
    if (p && armed) {
        lock();
        if (nlive < LIVE_MAX)
            live[nlive++] = p;
        unlock();
    }
    return p;
}
static bool refuse(void) { return armed && allow-- <= 0; }

void *malloc(size_t n) { return refuse() ? NULL : track(__libc_malloc(n)); }
void *calloc(size_t n, size_t size) { return refuse() ? NULL : track(__libc_calloc(n, size)); }
void free(void *p)
{
    if (p && nlive > 0) {
        lock();
        for (int i = 0; i < nlive; i++)
            if (live[i] == p) {
                live[i] = live[--nlive];
                break;
            }
        unlock();
    }
    __libc_free(p);
}

typedef int create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static create_fn *real;
    if (!real)
        real = (create_fn *)dlsym(RTLD_NEXT, "pthread_create");
    if (armed && threads_allowed >= 0 && threads_allowed-- == 0)
        return EAGAIN;
    bool was = armed;
    armed = false; /* the thread's TLS block is glibc's (it caches it past the join), not the library's */
    int rc = real(t, a, fn, arg);
    armed = was;
    return rc;
}
#endif

static char logged[4096];
static void log_fn(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque, (void)lvl;
    size_t n = strlen(logged);
    if (n + strlen(line) + 2 < sizeof(logged)) {
        memcpy(logged + n, line, strlen(line));
        logged[n + strlen(line)] = '\n';
        logged[n + strlen(line) + 1] = '\0';
    }
}
static const struct cvmm_log test_log = {.fn = log_fn, .level = CVMM_LOG_WARN};

static int kicked(void *ctx, vub_queue *q)
{
    (void)ctx, (void)q;
    return 0;
}
static const vub_device_ops ops = {.queue_kicked = kicked};
static const uint16_t qmap[4] = {0, 1, 2, 0};
static const vub_device_info info = {.name = "nomem", .num_queues = 4, .queue_worker = qmap};
static const vub_daemon_config cfg = {.ops = &ops, .info = &info, .log = &test_log, .nworkers = 3};

static int fds_at_start;
static void start(void)
{
    if (NOMEM_SKIP)
        cr_skip_test("sanitizer builds own malloc()");
    fds_at_start = cvmm_test_count_fds();
}
TestSuite(daemon_new_failures, .init = start, .timeout = 120);

/* One vub_daemon_new() with the first @allocs allocations and the first @threads thread starts allowed. */
static int attempt(int allocs, int threads, vub_daemon **d)
{
    logged[0] = '\0';
    allow = allocs;
    threads_allowed = threads;
    armed = true;
    int rc = vub_daemon_new(&cfg, d);
    armed = false;
    return rc;
}

static void nothing_left(const char *what, int step)
{
    lock();
    int n = nlive;
    unlock();
    cr_assert_eq(n, 0, "%s %d: %d blocks allocated by vub_daemon_new() were not freed", what, step, n);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "%s %d: fd leaked", what, step);
}

Test(daemon_new_failures, each_failed_allocation_is_enomem_and_leaves_nothing)
{
    vub_daemon *d = (vub_daemon *)&d;
    int rc = -ENOMEM, step;
    for (step = 0; step < 1000; step++) {
        rc = attempt(step, -1, &d);
        if (rc == 0)
            break;
        cr_assert_eq(rc, -ENOMEM, "allocation %d failed: rc %d", step, rc);
        cr_assert_null(d, "allocation %d: *out is NULL on failure", step);
        nothing_left("allocation", step);
    }
    cr_assert_eq(rc, 0, "vub_daemon_new() succeeds once allocations do");
    cr_assert_geq(step, 8, "a daemon, its control block, queues, workers and guest each allocate (%d)", step);
    vub_daemon_free(d);
    nothing_left("after free", step);
}

Test(daemon_new_failures, a_worker_thread_that_cannot_start_is_eagain_and_the_others_are_joined)
{
    for (int started = 0; started < 3; started++) {
        vub_daemon *d = (vub_daemon *)&d;
        int rc = attempt(1 << 30, started, &d);
        cr_assert_eq(rc, -EAGAIN, "worker %d", started);
        cr_assert_null(d);
        char want[64];
        snprintf(want, sizeof(want), "nomem: worker%d: pthread_create failed", started);
        cr_assert_not_null(strstr(logged, want), "'%s' in '%s'", want, logged);
        nothing_left("worker", started);
    }
    vub_daemon *d;
    cr_assert_eq(attempt(1 << 30, 3, &d), 0, "three workers, three threads");
    vub_daemon_free(d);
    nothing_left("after free", 3);
}
