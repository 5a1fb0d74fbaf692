/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* busypoll.c - adaptive busy-polling of a drained ring before kicks are asked for again (cvmm/vub/queue.h,
 * vub_queue_drained()); Linux vhost-net's busyloop idea.
 *
 * When the device found its ring empty, kicks stay off and the worker looks at the ring for up to the
 * queue's budget: first inside the device's call, for at most one slice (so the worker's other watchers
 * and the control thread's calls wait one slice at most, and a call cuts it short), then from the loop
 * (an ev_idle watcher, poll_w: the loop turns without blocking and runs everything else in between) for
 * the rest of the budget, measured from the last work found.  Work found: the device goes on (inside its
 * call) or is called again (from the loop), and the budget grows.  Budget spent: kicks are asked for
 * again with vq_enable_notification(), whose fence and second look make sure that a buffer the driver
 * added just then is either seen or kicked, and the budget shrinks.  So an idle ring costs one budget of
 * CPU, and no CPU after that.  VUB_BUSY_POLL_ALWAYS polls from the loop for ever (kicks stay off). */
#include <time.h>

#include "cvmm/vq/notify.h"
#include "internal.h"

/* Longest spin inside one call of the device. */
#define SLICE_NS 50000ull

static uint64_t now_ns(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static bool attention(vub__worker *w) { return atomic_load_explicit(&w->attention, memory_order_relaxed); }

/* Look at the ring until it has work (true), @ns passed or the worker has other work (false).  *@at gets
 * the time of the last look. */
static bool spin(vub_queue *q, uint64_t start, uint64_t ns, uint64_t *at)
{
    uint64_t t = start;
    for (unsigned i = 1;; i++) {
        if (vq_avail_ready(q->vq)) {
            *at = t;
            return true;
        }
        if ((i & 15) == 0) {
            t = now_ns();
            if (t - start >= ns || attention(q->w))
                break;
        }
        relax();
    }
    *at = t;
    return false;
}

static bool always(const vub_queue *q) { return q->bp_max_us == VUB_BUSY_POLL_ALWAYS; }

static void grow(vub_queue *q)
{
    if (!always(q))
        q->bp_cur_us = q->bp_cur_us * 2 > q->bp_max_us ? q->bp_max_us : q->bp_cur_us * 2;
}

static void shrink(vub_queue *q)
{
    uint32_t floor = q->bp_max_us / 16 ? q->bp_max_us / 16 : 1;
    q->bp_cur_us = q->bp_cur_us / 2 < floor ? floor : q->bp_cur_us / 2;
}

static void loop_poll(vub_queue *q, bool on)
{
    q->bp_looping = on;
    if (on && !ev_is_active(&q->poll_w))
        ev_idle_start(q->w->loop, &q->poll_w);
    else if (!on && ev_is_active(&q->poll_w))
        ev_idle_stop(q->w->loop, &q->poll_w);
}

/* Spent: ask for kicks again (and look once more). */
static int rearm(vub_queue *q)
{
    loop_poll(q, false);
    shrink(q);
    return vq_enable_notification(q->vq);
}

int vub_queue_drained(vub_queue *q)
{
    if (q->bp_max_us == 0 || q->polling || !q->started)
        return vq_enable_notification(q->vq);
    uint64_t budget = always(q) ? SLICE_NS : (uint64_t)q->bp_cur_us * 1000u;
    uint64_t start = now_ns(), at;
    if (spin(q, start, budget < SLICE_NS ? budget : SLICE_NS, &at)) {
        grow(q);
        return 1; /* kicks are still off: the device goes on */
    }
    if (!always(q) && at - start >= budget)
        return rearm(q);
    /* The rest of the budget from the loop, so the worker's other work runs meanwhile. */
    q->bp_until_ns = always(q) ? UINT64_MAX : start + budget;
    loop_poll(q, true);
    return 0;
}

void vub__busy_poll_tick(vub_queue *q)
{
    if (!q->started || vq_queue_broken(q->vq)) {
        loop_poll(q, false);
        return;
    }
    uint64_t start = now_ns(), at;
    uint64_t left = q->bp_until_ns > start ? q->bp_until_ns - start : 0;
    if (left && spin(q, start, left < SLICE_NS ? left : SLICE_NS, &at)) {
        grow(q);
        loop_poll(q, false); /* the device's vub_queue_drained() decides again */
        vub__queue_run(q);
        return;
    }
    if (always(q) || now_ns() < q->bp_until_ns)
        return;        /* the loop calls again */
    if (rearm(q) != 0) /* 1: buffers came as kicks went on; < 0: the device's pop reports the ring */
        vub__queue_run(q);
}

unsigned vub_queue_busy_poll_us(const vub_queue *q) { return q->bp_cur_us; }

void vub__busy_poll_init(vub_queue *q, int busy_poll_us)
{
    q->bp_max_us = busy_poll_us < 0 ? 0 : (uint32_t)busy_poll_us;
    q->bp_cur_us = q->bp_max_us;
    q->bp_looping = false;
}
