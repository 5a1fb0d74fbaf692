/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A guest that never lets its ring run empty must not own the worker.  vub_queue_serve() used to drain
 * until vq_pop() found nothing: a guest vCPU that refills the ring as fast as a device with real work per
 * request (a disk read) answers it kept the worker in one kick handler for ever, so the control thread,
 * which runs every ring message on the worker and waits for it, never got GET_VRING_BASE done: the
 * front-end's stop (and every other ring message of that worker, and other rings of the worker) hung as
 * long as the guest wanted.  Now one call serves at most one ring's worth of requests and then schedules
 * itself again (vub_queue_kick()), so the worker's other work runs in between. */
#include <stdatomic.h>

#include "vub_test.h"

#define RING 256
#define GUEST_MAX_MS 20000 /* the hostile guest gives up after this (generous: the stop takes milliseconds) */

static atomic_uint served;

/* A device with real work per request: 200 us, like a synchronous read from a slow disk. */
static int slow_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx, (void)q, (void)s;
    struct timespec ts = {0, 200 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&served, 1);
    *used_len = 0;
    return 0;
}
static const vub_device_ops slow_ops = {.request = slow_request};
static void init_slow(void)
{
    atomic_store(&served, 0);
    vt_setup(&(struct vt_opts){.ops = &slow_ops});
}
TestSuite(vub_serve_fairness, .init = init_slow, .fini = vt_fini, .timeout = 120);

struct guest {
    struct vt_ring *r;
    atomic_bool stop;
    atomic_bool gave_up; /* GUEST_MAX_MS passed */
};

/* The hostile guest: reap every used buffer and make it available again at once, for ever. */
static void *guest_main(void *arg)
{
    struct guest *g = arg;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned i = 0;
    while (!atomic_load(&g->stop)) {
        uint16_t head;
        uint32_t len;
        while (vq_mock_used(g->r->mk, &head, &len) == 1)
            ;
        vq_mock_buf b = {0x80000 + (i++ % RING) * 0x40ull, 64, true};
        if (vq_mock_add(g->r->mk, &b, 1, &head) != 0) {
            sched_yield(); /* full: wait for the device */
        } else {
            uint64_t one = 1;
            (void)!write(g->r->kick, &one, sizeof(one)); /* never blocks: a non-blocking eventfd */
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 > GUEST_MAX_MS) {
            atomic_store(&g->gave_up, true);
            break;
        }
    }
    return NULL;
}

Test(vub_serve_fairness, a_ring_kept_full_by_the_guest_still_stops)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, RING, false, false);
    struct guest g = {.r = &r};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, guest_main, &g), 0);
    for (int i = 0; i < 10000 && atomic_load(&served) < 2 * RING; i++) /* the worker is busy with it */
        vt_sleep_ms(1);
    unsigned busy = atomic_load(&served);
    if (busy < 2 * RING) {
        atomic_store(&g.stop, true);
        pthread_join(th, NULL);
        cr_assert_fail("the device served only %u requests", busy);
    }

    uint32_t base = 0;
    int rc = vhu_frontend_get_vring_base(vt.fe, 0, &base);
    bool guest_still_refilling = !atomic_load(&g.gave_up);
    atomic_store(&g.stop, true);
    pthread_join(th, NULL);
    cr_assert_eq(rc, 0, "GET_VRING_BASE answered");
    cr_assert(guest_still_refilling, "the ring stopped only after the guest gave up (%u requests served)",
              atomic_load(&served));
    /* The device gave back at most what the guest made available; the ring stopped at a chain boundary. */
    cr_assert_geq(base, 2 * RING);
    vt_ring_free(&r);
}
