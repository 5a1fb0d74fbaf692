/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A device's own fd watched on its queue's worker (cvmm/vub/watch.h): the device makes the watch in
 * queue_started() and frees it in queue_stopped(); readiness calls it on that worker with the events that
 * happened; a paused watch (events 0) stays silent until the device resumes it; bad arguments are -EINVAL.
 * The test device reads one byte per call: 'p' makes it pause its watch, and the next kick after the test
 * asks for it (the daemon also kicks by itself when a ring starts) resumes it. */
#include <fcntl.h>

#include "vub_test.h"

static struct {
    int rd, wr;         /* the pipe the device watches: test writes to wr, device reads rd */
    bool watch_write;   /* watch wr for WRITE instead of rd for READ */
    vub_watch *w;       /* worker-owned */
    pthread_t worker;   /* the thread of queue_started */
    atomic_uint calls;  /* watch callbacks */
    atomic_uint events; /* events of the last callback */
    atomic_int wrong_thread;
    atomic_int resume_on_kick;  /* set by the test: the next kick resumes the watch */
    atomic_uint events_at_kick; /* vub_watch_events() when that kick came, + 100 */
    atomic_uint calls_at_kick;
    atomic_int arg_checks; /* 1: every bad argument was -EINVAL */
    atomic_uint freed;
} wd;

static void on_ready(void *opaque, vub_queue *q, int fd, unsigned events)
{
    (void)q;
    if (opaque != &wd || !pthread_equal(pthread_self(), wd.worker))
        atomic_store(&wd.wrong_thread, 1);
    atomic_store(&wd.events, events);
    if (events & VUB_WATCH_READ) {
        char c = 0;
        if (read(fd, &c, 1) == 1 && c == 'p')
            (void)vub_watch_set(wd.w, 0);
    } else {
        (void)vub_watch_set(wd.w, 0); /* a pipe stays writable: once is enough */
    }
    atomic_fetch_add(&wd.calls, 1);
}

static int bad_arguments_refused(vub_queue *q)
{
    vub_watch *w = NULL;
    int ok = vub_watch_new(q, -1, VUB_WATCH_READ, on_ready, &wd, &w) == -EINVAL &&
             vub_watch_new(q, wd.rd, 4, on_ready, &wd, &w) == -EINVAL &&
             vub_watch_new(q, wd.rd, VUB_WATCH_READ, NULL, &wd, &w) == -EINVAL &&
             vub_watch_new(q, wd.rd, VUB_WATCH_READ, on_ready, &wd, NULL) == -EINVAL &&
             vub_watch_new(NULL, wd.rd, VUB_WATCH_READ, on_ready, &wd, &w) == -EINVAL && w == NULL &&
             vub_watch_set(NULL, VUB_WATCH_READ) == -EINVAL && vub_watch_events(NULL) == 0;
    vub_watch_free(NULL);
    return ok;
}

static int w_started(void *ctx, vub_queue *q)
{
    wd.worker = pthread_self();
    atomic_store(&wd.arg_checks, bad_arguments_refused(q));
    int rc = wd.watch_write ? vub_watch_new(q, wd.wr, VUB_WATCH_WRITE, on_ready, &wd, &wd.w)
                            : vub_watch_new(q, wd.rd, VUB_WATCH_READ, on_ready, &wd, &wd.w);
    if (rc == 0 && (vub_watch_set(wd.w, 8) != -EINVAL || vub_watch_set(wd.w, vub_watch_events(wd.w)) != 0))
        rc = -EINVAL; /* unknown bits refused; setting what it has is a no-op */
    return rc < 0 ? rc : tdev_started(ctx, q);
}

static int w_kicked(void *ctx, vub_queue *q)
{
    if (atomic_exchange(&wd.resume_on_kick, 0)) {
        atomic_store(&wd.calls_at_kick, atomic_load(&wd.calls));
        atomic_store(&wd.events_at_kick, 100 + vub_watch_events(wd.w));
        if (vub_watch_set(wd.w, wd.watch_write ? VUB_WATCH_WRITE : VUB_WATCH_READ) < 0)
            return -EIO;
    }
    return tdev_kicked(ctx, q);
}

static int w_stopped(void *ctx, vub_queue *q)
{
    vub_watch_free(wd.w);
    wd.w = NULL;
    atomic_fetch_add(&wd.freed, 1);
    return tdev_stopped(ctx, q);
}

static const vub_device_ops watch_ops = {
    .queue_started = w_started,
    .queue_stopped = w_stopped,
    .queue_kicked = w_kicked,
};

static void init_watch(void)
{
    memset(&wd, 0, sizeof(wd));
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    wd.rd = p[0];
    wd.wr = p[1];
    vt_setup(&(struct vt_opts){.ops = &watch_ops});
}
static void fini_watch(void)
{
    vt_fini(); /* its fd check counts the pipe as open since the start */
    close(wd.rd);
    close(wd.wr);
}
TestSuite(device_fd_watch, .init = init_watch, .fini = fini_watch, .timeout = 120);

/* Wait (VT_WAIT_MS at most) until the device's watch has been called @n times. */
static void wait_calls(unsigned n)
{
    for (int i = 0; i < VT_WAIT_MS && atomic_load(&wd.calls) < n; i++)
        vt_sleep_ms(1);
    cr_assert_eq(atomic_load(&wd.calls), n);
}

static void start_ring(struct vt_ring *r)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    cr_assert_eq(atomic_load(&wd.arg_checks), 1, "bad arguments are -EINVAL");
}

static void stop_ring(struct vt_ring *r)
{
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    cr_assert_eq(atomic_load(&wd.freed), 1, "queue_stopped freed the watch");
    vt_ring_free(r);
}

Test(device_fd_watch, a_readable_fd_calls_the_device_on_its_queues_worker)
{
    struct vt_ring r;
    start_ring(&r);
    cr_assert_eq(write(wd.wr, "a", 1), 1);
    wait_calls(1);
    cr_assert_eq(atomic_load(&wd.events), VUB_WATCH_READ);
    cr_assert_eq(write(wd.wr, "b", 1), 1);
    wait_calls(2);
    cr_assert_eq(atomic_load(&wd.wrong_thread), 0, "called on the worker of queue 0, with its opaque");
    stop_ring(&r);
}

Test(device_fd_watch, a_paused_watch_stays_silent_until_the_device_resumes_it)
{
    struct vt_ring r;
    start_ring(&r);
    cr_assert_eq(write(wd.wr, "p", 1), 1); /* the device pauses its watch */
    wait_calls(1);
    cr_assert_eq(write(wd.wr, "x", 1), 1); /* readable now, but paused */
    uint16_t head = vt_add_chain(&r, 0x80000, 64);
    atomic_store(&wd.resume_on_kick, 1);
    vt_kick(&r); /* on the worker: note what the watch waits for, then resume it */
    cr_assert_eq(vt_wait_used(&r, head), 64);
    cr_assert_eq(atomic_load(&wd.events_at_kick), 100u, "paused: events 0");
    cr_assert_eq(atomic_load(&wd.calls_at_kick), 1, "the 'x' was not delivered while paused");
    wait_calls(2); /* resumed: the pending byte comes */
    char c;
    cr_assert_eq(read(wd.rd, &c, 1), -1, "the device read it");
    stop_ring(&r);
}

Test(device_fd_watch, a_writable_fd_is_reported_as_write)
{
    wd.watch_write = true;
    struct vt_ring r;
    start_ring(&r);
    wait_calls(1);
    cr_assert_eq(atomic_load(&wd.events), VUB_WATCH_WRITE);
    uint16_t head = vt_add_chain(&r, 0x80000, 64);
    atomic_store(&wd.resume_on_kick, 1);
    vt_kick(&r); /* resumes it: writable again at once */
    cr_assert_eq(vt_wait_used(&r, head), 64);
    cr_assert_eq(atomic_load(&wd.events_at_kick), 100u, "paused by its callback: events 0");
    cr_assert_eq(atomic_load(&wd.calls_at_kick), 1);
    wait_calls(2);
    cr_assert_eq(atomic_load(&wd.events), VUB_WATCH_WRITE);
    cr_assert_eq(atomic_load(&wd.wrong_thread), 0);
    stop_ring(&r);
}
