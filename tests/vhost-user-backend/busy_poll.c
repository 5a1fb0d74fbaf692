/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Busy-polling a drained ring (cvmm/vub/queue.h, vub_queue_drained(); busypoll.c), through the daemon with
 * a request-op device (vub_queue_serve() calls vub_queue_drained()) and the mock driver, which kicks only
 * when the device's suppression state asks for it (vq_mock_kick_needed()), as a real driver does:
 *   - with full polling, requests made without any kick are served, and kicks stay off;
 *   - with an adaptive budget, no request is lost whenever it arrives (inside the poll, as it ends, after
 *     it), the budget shrinks while polling finds nothing and grows back while it finds work;
 *   - once the driver is idle, the worker stops using the CPU (its utime + stime stay flat);
 *   - a buffer the driver adds as the ring drains is found by the first look and served in the same call;
 *   - --busy-poll and --poll on the command line. */
#include <sched.h>
#include <sys/syscall.h>

#include "cvmm/vq/rw.h"
#include "vub_test.h"

static struct {
    atomic_uint requests;
    atomic_int worker_tid;
    atomic_uint budget_min, budget_max; /* vub_queue_busy_poll_us() seen by requests */
    atomic_uint budget_last;
} bp;

static int bp_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx, (void)s;
    unsigned b = vub_queue_busy_poll_us(q);
    atomic_store(&bp.worker_tid, (int)syscall(SYS_gettid));
    atomic_store(&bp.budget_last, b);
    if (b < atomic_load(&bp.budget_min))
        atomic_store(&bp.budget_min, b);
    if (b > atomic_load(&bp.budget_max))
        atomic_store(&bp.budget_max, b);
    atomic_fetch_add(&bp.requests, 1);
    *used_len = 0;
    return 0;
}
static const vub_device_ops bp_ops = {.request = bp_request};

static void bp_reset(void)
{
    memset(&bp, 0, sizeof(bp));
    atomic_store(&bp.budget_min, UINT32_MAX);
}
static void init_poll(void)
{
    bp_reset();
    vt_setup(&(struct vt_opts){.ops = &bp_ops, .poll = true});
}
#define BUDGET_US 1600
static void init_adaptive(void)
{
    bp_reset();
    vt_setup(&(struct vt_opts){.ops = &bp_ops, .busy_poll_us = BUDGET_US});
}

TestSuite(busy_poll_always, .init = init_poll, .fini = vt_fini, .timeout = 120);
TestSuite(busy_poll_adaptive, .init = init_adaptive, .fini = vt_fini, .timeout = 120);
TestSuite(busy_poll_cmdline, .timeout = 120);

static void ready(struct vt_ring *r, enum vq_layout layout, bool event_idx)
{
    uint64_t f = (1ull << VUB_F_VERSION_1) | (event_idx ? 1ull << VUB_F_RING_EVENT_IDX : 0) |
                 (layout == VQ_LAYOUT_PACKED ? 1ull << VUB_F_RING_PACKED : 0);
    vt_negotiate(f, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(r, 0, layout, 256, event_idx, false);
}

/* One request as a driver makes it: add, kick only if the device asks for kicks.  Return: kicked. */
static bool request(struct vt_ring *r, unsigned i, uint16_t *head)
{
    vq_mock_buf b = {0x80000 + (i % 128) * 0x100ull, 64, true};
    cr_assert_eq(vq_mock_add(r->mk, &b, 1, head), 0);
    if (!vq_mock_kick_needed(r->mk))
        return false;
    vt_kick(r);
    return true;
}

static void served_without_kicks(enum vq_layout layout, bool event_idx)
{
    struct vt_ring r;
    ready(&r, layout, event_idx);
    uint16_t h;
    (void)request(&r, 0, &h); /* the first may need a kick: the ring starts with kicks on */
    cr_assert_eq(vt_wait_used(&r, h), 0);
    unsigned kicked = 0;
    for (unsigned i = 1; i <= 200; i++) {
        kicked += request(&r, i, &h);
        cr_assert_eq(vt_wait_used(&r, h), 0, "request %u", i);
        if (i % 50 == 0)
            vt_sleep_ms(20); /* idle gaps: polling goes on */
    }
    cr_assert_eq(kicked, 0, "the driver was asked for %u kicks while the ring was polled", kicked);
    cr_assert_eq(atomic_load(&bp.requests), 201);
    vt_ring_free(&r);
}

Test(busy_poll_always, split_requests_are_served_without_kicks) { served_without_kicks(VQ_LAYOUT_SPLIT, false); }
Test(busy_poll_always, split_event_idx_requests_are_served_without_kicks)
{
    served_without_kicks(VQ_LAYOUT_SPLIT, true);
}
Test(busy_poll_always, packed_requests_are_served_without_kicks) { served_without_kicks(VQ_LAYOUT_PACKED, true); }

Test(busy_poll_always, a_polled_ring_still_stops)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    uint16_t h;
    (void)request(&r, 0, &h);
    cr_assert_eq(vt_wait_used(&r, h), 0);
    /* GET_VRING_BASE runs on the polling worker and must come back. */
    uint32_t base = 0;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    cr_assert_eq(base, 1);
    vt_ring_free(&r);
}

/* Requests at gaps from 0 to twice the budget: some land inside the poll, some just as it ends, some after
 * kicks are on again.  A driver that follows the suppression state never loses one. */
static void no_request_is_lost(enum vq_layout layout, bool event_idx)
{
    struct vt_ring r;
    ready(&r, layout, event_idx);
    unsigned kicked = 0;
    for (unsigned i = 0; i < 400; i++) {
        uint16_t h;
        kicked += request(&r, i, &h);
        cr_assert_eq(vt_wait_used(&r, h), 0, "request %u", i);
        struct timespec ts = {0, (long)((i * 37) % (2 * BUDGET_US)) * 1000L};
        nanosleep(&ts, NULL);
    }
    cr_assert_eq(atomic_load(&bp.requests), 400);
    cr_assert_gt(kicked, 0, "kicks were never asked for again after polling");
    vt_ring_free(&r);
}

Test(busy_poll_adaptive, split_no_request_is_lost_when_polling_ends) { no_request_is_lost(VQ_LAYOUT_SPLIT, false); }
Test(busy_poll_adaptive, split_event_idx_no_request_is_lost_when_polling_ends)
{
    no_request_is_lost(VQ_LAYOUT_SPLIT, true);
}
Test(busy_poll_adaptive, packed_no_request_is_lost_when_polling_ends) { no_request_is_lost(VQ_LAYOUT_PACKED, true); }

/* utime + stime of thread @tid of this process, in clock ticks. */
static unsigned long long thread_cpu(int tid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* after the command name; fields 3.. follow */
    cr_assert_not_null(p);
    unsigned long long ut = 0, st = 0;
    /* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
    cr_assert_eq(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st), 2);
    return ut + st;
}

Test(busy_poll_adaptive, an_idle_driver_costs_no_cpu)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    for (unsigned i = 0; i < 300; i++) { /* traffic, so that the budget is in use */
        uint16_t h;
        (void)request(&r, i, &h);
        cr_assert_eq(vt_wait_used(&r, h), 0);
    }
    int tid = atomic_load(&bp.worker_tid);
    cr_assert_gt(tid, 0);
    vt_sleep_ms(200); /* the last poll ends within one budget (1.6 ms) */
    long hz = sysconf(_SC_CLK_TCK);
    unsigned long long before = thread_cpu(tid);
    vt_sleep_ms(1000);
    unsigned long long used = thread_cpu(tid) - before;
    /* A worker still polling uses whatever share of a CPU it gets (at least tens of ticks even on a loaded
     * machine); a sleeping one, none. */
    cr_assert(used * 20 < (unsigned long long)hz, "the worker used %llu of %ld ticks in a second of idleness", used,
              hz);
    vt_ring_free(&r);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

Test(busy_poll_adaptive, the_budget_shrinks_while_polling_finds_nothing_and_grows_back)
{
    struct vt_ring r;
    ready(&r, VQ_LAYOUT_SPLIT, false);
    /* Gaps far longer than the budget: polls end empty, the budget halves down to its floor (from the 5th
     * request on).  On a loaded machine a worker descheduled inside its poll may find the next request
     * there and double the budget once: so up to 100 requests, until one sees the floor. */
    unsigned i = 0;
    for (; i < 100 && (i < 8 || atomic_load(&bp.budget_last) != BUDGET_US / 16); i++) {
        uint16_t h;
        (void)request(&r, i, &h);
        cr_assert_eq(vt_wait_used(&r, h), 0);
        vt_sleep_ms(30);
    }
    cr_assert(atomic_load(&bp.budget_max) <= BUDGET_US);
    cr_assert_eq(atomic_load(&bp.budget_last), BUDGET_US / 16, "it shrinks to a sixteenth");
    cr_assert_eq(atomic_load(&bp.budget_min), BUDGET_US / 16, "never below it");
    /* Back to back: the next request comes while the worker polls (this thread spins on the used ring, no
     * sleep), a poll finds it, the budget doubles.  A poll finds it only if this thread runs while the worker
     * polls (100 us at the floor): on a loaded machine that can be one request in many, and with fewer
     * finds than misses the budget would not climb all the way back (a loaded run timed out waiting for
     * that).  So: one doubling is asked for, within 60 s of wall time; the ceiling is checked after. */
    bool grown = false;
    const uint64_t until = mono_ms() + 60000;
    for (; !grown && mono_ms() < until; i++) {
        uint16_t h, uh;
        uint32_t ul;
        int rc;
        (void)request(&r, i, &h);
        /* Spin, then yield, for up to VT_WAIT_MS of wall time (not a count of tries: on a loaded machine
         * the worker may be off its CPU for a long while). */
        uint64_t deadline = mono_ms() + VT_WAIT_MS;
        for (unsigned k = 0; (rc = vq_mock_used(r.mk, &uh, &ul)) == 0; k++) {
            if (k > 1000)
                sched_yield();
            if ((k & 1023) == 0 && mono_ms() > deadline)
                break;
        }
        cr_assert_eq(rc, 1, "request %u was not served within %d ms", i, VT_WAIT_MS);
        cr_assert_eq(uh, h);
        grown = atomic_load(&bp.budget_last) > BUDGET_US / 16;
    }
    cr_assert(grown, "the budget never grew while requests kept coming (%u requests)", i);
    cr_assert(atomic_load(&bp.budget_max) <= BUDGET_US, "never above the configured budget");
    vt_ring_free(&r);
}

Test(busy_poll_cmdline, busy_poll_and_poll_set_the_daemon_config)
{
    vub_cmdline cl;
    char err[128];
    char *a1[] = {"prog", "--socket-path=/x", "--busy-poll=30"};
    cr_assert_eq(vub_cmdline_parse(3, a1, NULL, 0, NULL, &cl, err, sizeof(err)), 0);
    cr_assert_eq(vub_cmdline_busy_poll(&cl), 30);
    cr_assert_not(cl.poll);
    char *a2[] = {"prog", "--socket-path=/x", "--busy-poll", "0", "--poll"};
    cr_assert_eq(vub_cmdline_parse(5, a2, NULL, 0, NULL, &cl, err, sizeof(err)), 0);
    cr_assert_eq(vub_cmdline_busy_poll(&cl), -1, "0 is off");
    cr_assert(cl.poll);
    char *a3[] = {"prog", "--socket-path=/x"};
    cr_assert_eq(vub_cmdline_parse(2, a3, NULL, 0, NULL, &cl, err, sizeof(err)), 0);
    cr_assert_eq(vub_cmdline_busy_poll(&cl), 0, "the default");
    char *a4[] = {"prog", "--socket-path=/x", "--busy-poll=1000001"};
    cr_assert_eq(vub_cmdline_parse(3, a4, NULL, 0, NULL, &cl, err, sizeof(err)), -EINVAL);
    cr_assert(strstr(err, "--busy-poll"));
    char *a5[] = {"prog", "--socket-path=/x", "--busy-poll=-1"};
    cr_assert_eq(vub_cmdline_parse(3, a5, NULL, 0, NULL, &cl, err, sizeof(err)), -EINVAL);
}

/* ---- work found inside the device's call ---- */

/* A device that, as its ring drains, has the driver add one more buffer (as a guest on another vCPU would
 * while the device answers): vub_queue_drained() finds it in its first look and says "go on" (1), with
 * kicks still off and the budget grown, and the device serves it in the same call. */
static struct {
    _Atomic(vq_mock *) mk; /* the driver, used by the worker only while the test thread waits */
    atomic_int add_one;    /* 1: add a buffer at the next drain */
    atomic_int drained_rc; /* what vub_queue_drained() said right after that buffer came */
    atomic_uint budget_before, budget_after;
    atomic_uint served;
} dk;

static int dk_kicked(void *ctx, vub_queue *q)
{
    (void)ctx;
    vq_queue *vq = vub_queue_vq(q);
    vq_chain c;
    int rc;
    do {
        (void)vq_disable_notification(vq);
        while ((rc = vq_pop(vq, &c)) == 1) {
            if (vq_add_used(vq, c.head, 0) < 0)
                return -EIO;
            atomic_fetch_add(&dk.served, 1);
        }
        if (rc < 0)
            return rc;
        bool added = atomic_exchange(&dk.add_one, 0) == 1;
        if (added) {
            vq_mock_buf b = {0x90000, 64, true};
            uint16_t head;
            if (vq_mock_add(atomic_load(&dk.mk), &b, 1, &head) < 0)
                return -EIO;
            atomic_store(&dk.budget_before, vub_queue_busy_poll_us(q));
        }
        rc = vub_queue_drained(q);
        if (added) {
            atomic_store(&dk.drained_rc, rc);
            atomic_store(&dk.budget_after, vub_queue_busy_poll_us(q));
        }
    } while (rc == 1);
    return rc < 0 ? rc : vub_queue_notify(q) < 0 ? -EIO : 0;
}

static const vub_device_ops dk_ops = {.queue_kicked = dk_kicked};

static void init_driver_in_kick(void)
{
    memset(&dk, 0, sizeof(dk));
    atomic_store(&dk.drained_rc, -1000);
    vt_setup(&(struct vt_opts){.ops = &dk_ops, .busy_poll_us = BUDGET_US});
}

TestSuite(busy_poll_in_kick, .init = init_driver_in_kick, .fini = vt_fini, .timeout = 120);

Test(busy_poll_in_kick, work_found_in_the_first_look_is_served_in_the_same_call)
{
    struct vt_ring r;
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 256, false, false);
    uint16_t h;
    vq_mock_buf b = {0x80000, 64, true};
    cr_assert_eq(vq_mock_add(r.mk, &b, 1, &h), 0);
    atomic_store(&dk.mk, r.mk);
    atomic_store(&dk.add_one, 1); /* the worker touches the driver only after it took this */
    vt_kick(&r);
    for (int i = 0; i < VT_WAIT_MS && atomic_load(&dk.served) < 2; i++)
        vt_sleep_ms(1);
    cr_assert_eq(atomic_load(&dk.served), 2, "both buffers served");
    cr_assert_eq(atomic_load(&dk.drained_rc), 1, "the drain found the new buffer: go on");
    unsigned before = atomic_load(&dk.budget_before), after = atomic_load(&dk.budget_after);
    cr_assert(after >= before && after <= BUDGET_US, "the budget grows, up to its maximum (%u -> %u)", before, after);
    vt_sync_worker();
    uint16_t head;
    uint32_t len;
    cr_assert_eq(vq_mock_used(r.mk, &head, &len), 1);
    cr_assert_eq(head, h);
    cr_assert_eq(vq_mock_used(r.mk, &head, &len), 1, "the driver's second buffer is used too");
    vt_ring_free(&r);
}
