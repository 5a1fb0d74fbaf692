/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* notify.c - notification suppression both ways, EVENT_IDX with 16-bit wrap, and no lost kicks. */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include "vq_fixture.h"

TestSuite(notify, .fini = fx_teardown, .timeout = 120);

static void cycle(unsigned n)
{
    vq_chain c;
    uint16_t h;
    uint32_t l;
    for (unsigned i = 0; i < n; i++) {
        fx_add(1, 8, 0, 0);
        FX_CHECK(fx_pop_walk(&c, NULL, NULL) == 0);
        FX_CHECK(vq_add_used(fx_q, c.head, 0) == 0);
        FX_CHECK(vq_mock_used(fx_mk, &h, &l) == 1);
    }
}

/* Pop one chain and return it as used (the driver does not reclaim it). */
static void one_used(void)
{
    vq_chain c;
    fx_add(1, 8, 0, 0);
    FX_CHECK(fx_pop_walk(&c, NULL, NULL) == 0);
    FX_CHECK(vq_add_used(fx_q, c.head, 0) == 0);
}

Test(notify, need_event_rule_with_wrap)
{
    cr_assert(vq_need_event(5, 6, 5));
    cr_assert_not(vq_need_event(6, 6, 5));
    cr_assert(vq_need_event(65535, 0, 65534), "event just before the wrap");
    cr_assert(vq_need_event(0, 1, 65535), "event just after the wrap");
    cr_assert_not(vq_need_event(1, 1, 65535));
    cr_assert_not(vq_need_event(3, 3, 3), "nothing new");
}

Test(notify, split_no_interrupt_flag, .init = fx_split)
{
    one_used();
    cr_assert(vq_needs_notify(fx_q));
    cr_assert_eq(vq_mock_set_no_interrupt(fx_mk, true), 0);
    one_used();
    cr_assert_not(vq_needs_notify(fx_q));
    cr_assert_not(vq_split_needs_notify(fx_q));
    cr_assert_eq(vq_mock_set_no_interrupt(fx_mk, false), 0);
    cr_assert(vq_split_needs_notify(fx_q));
}

Test(notify, split_used_event_rule, .init = fx_split_ei)
{
    one_used();
    cr_assert(vq_needs_notify(fx_q), "the first check after start notifies");
    cr_assert_eq(vq_mock_set_used_event(fx_mk, 2), 0);
    one_used(); /* used idx 2: event 2 not passed yet */
    cr_assert_not(vq_needs_notify(fx_q));
    one_used(); /* used idx 3: passed 2 */
    cr_assert(vq_needs_notify(fx_q));
    one_used();
    cr_assert_not(vq_needs_notify(fx_q), "event 2 lies behind");
    cr_assert_eq(vq_mock_set_no_interrupt(fx_mk, true), 0);
    cr_assert_eq(vq_mock_set_used_event(fx_mk, 4), 0);
    one_used();
    cr_assert(vq_needs_notify(fx_q), "with EVENT_IDX the flag is ignored");
}

Test(notify, split_used_event_across_16_bit_wrap, .init = fx_split_ei)
{
    cycle(65534);
    cr_assert(vq_needs_notify(fx_q));
    cr_assert_eq(vq_mock_set_used_event(fx_mk, 0), 0);
    one_used(); /* 65535 */
    cr_assert_not(vq_needs_notify(fx_q));
    one_used(); /* 0 */
    cr_assert_not(vq_needs_notify(fx_q));
    one_used(); /* 1: passed 0 */
    cr_assert(vq_needs_notify(fx_q));
}

Test(notify, split_batch_then_one_check, .init = fx_split_ei)
{
    one_used();
    cr_assert(vq_needs_notify(fx_q));
    cr_assert_eq(vq_mock_set_used_event(fx_mk, 3), 0);
    for (int i = 0; i < 5; i++)
        one_used(); /* 1 -> 6 passes 3 */
    cr_assert(vq_needs_notify(fx_q));
}

Test(notify, split_disable_enable_kicks, .init = fx_split)
{
    vq_chain c;
    cr_assert_eq(vq_disable_notification(fx_q), 0);
    fx_add(1, 8, 0, 0);
    cr_assert_not(vq_mock_kick_needed(fx_mk), "NO_NOTIFY set");
    cr_assert_eq(vq_enable_notification(fx_q), 1, "the buffer added while kicks were off is found");
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    fx_add(1, 8, 0, 0);
    cr_assert(vq_mock_kick_needed(fx_mk));
}

Test(notify, split_event_idx_enable_sets_avail_event, .init = fx_split_ei)
{
    vq_chain c;
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    fx_add(1, 8, 0, 0);
    cr_assert(vq_mock_kick_needed(fx_mk), "avail_event 0 passed");
    fx_add(1, 8, 0, 0);
    cr_assert_not(vq_mock_kick_needed(fx_mk), "the device has not asked again");
    cr_assert_eq(vq_disable_notification(fx_q), 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_enable_notification(fx_q), 1, "one more is waiting");
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    uint16_t ev;
    cr_assert_eq(vmem_load_le16(fx_map, fx_device + VQ_SPLIT_AVAIL_EVENT(256), &ev), 0);
    cr_assert_eq(ev, 2);
    fx_add(1, 8, 0, 0);
    cr_assert(vq_mock_kick_needed(fx_mk));
}

Test(notify, split_enable_detects_index_jump, .init = fx_split)
{
    cr_assert_eq(vq_mock_set_avail_idx(fx_mk, 300), 0);
    cr_assert_eq(vq_enable_notification(fx_q), -EIO);
    cr_assert(vq_queue_broken(fx_q));
    cr_assert_not(vq_needs_notify(fx_q));
    cr_assert_eq(vq_disable_notification(fx_q), -EIO);
}

Test(notify, packed_driver_event_flags, .init = fx_packed)
{
    one_used();
    cr_assert(vq_needs_notify(fx_q), "ENABLE (zeroed structure)");
    cr_assert_eq(vq_mock_set_driver_event(fx_mk, VQ_RING_EVENT_FLAGS_DISABLE, 0, 0), 0);
    one_used();
    cr_assert_not(vq_needs_notify(fx_q));
    cr_assert_not(vq_packed_needs_notify(fx_q));
    cr_assert_eq(vq_mock_set_driver_event(fx_mk, VQ_RING_EVENT_FLAGS_DESC, 100, 1), 0);
    one_used();
    cr_assert(vq_needs_notify(fx_q), "DESC without EVENT_IDX acts as ENABLE");
    cr_assert_eq(vq_mock_set_driver_event(fx_mk, 3, 0, 0), 0);
    one_used();
    cr_assert(vq_needs_notify(fx_q), "reserved value: notify");
}

Test(notify, packed_desc_event_with_wrap, .init = fx_packed_ei)
{
    cycle(250); /* used position 250, wrap 1 */
    cr_assert(vq_needs_notify(fx_q));
    /* Ask for an event when the descriptor at position 2 of the next lap (wrap 0) is used. */
    cr_assert_eq(vq_mock_set_driver_event(fx_mk, VQ_RING_EVENT_FLAGS_DESC, 2, 0), 0);
    cycle(6); /* 256 = position 0 of lap 2 */
    cr_assert_not(vq_needs_notify(fx_q));
    cycle(2); /* positions 0, 1 used: next is 2 */
    cr_assert_not(vq_needs_notify(fx_q));
    cycle(1); /* position 2 used */
    cr_assert(vq_needs_notify(fx_q));
    cycle(1);
    cr_assert_not(vq_needs_notify(fx_q));
    /* Same offset but the current lap's wrap (0) behind us, then a full lap later (wrap 0 again). */
    cr_assert_eq(vq_mock_set_driver_event(fx_mk, VQ_RING_EVENT_FLAGS_DESC, 2, 1), 0);
    cycle(255); /* positions 4 .. 258 = 2 of the lap with wrap 1 */
    cr_assert(vq_needs_notify(fx_q));
    cr_assert_eq(vq_mock_set_driver_event(fx_mk, VQ_RING_EVENT_FLAGS_DESC, 300, 1), 0);
    cycle(1);
    cr_assert(vq_needs_notify(fx_q), "offset outside the ring: notify");
}

Test(notify, packed_disable_enable_kicks, .init = fx_packed)
{
    vq_chain c;
    cr_assert_eq(vq_disable_notification(fx_q), 0);
    fx_add(1, 8, 0, 0);
    cr_assert_not(vq_mock_kick_needed(fx_mk), "DISABLE");
    cr_assert_eq(vq_enable_notification(fx_q), 1, "the buffer added while kicks were off is found");
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    fx_add(1, 8, 0, 0);
    cr_assert(vq_mock_kick_needed(fx_mk), "ENABLE");
}

Test(notify, packed_event_idx_enable_asks_for_next_descriptor, .init = fx_packed_ei)
{
    vq_chain c;
    cycle(255);
    cr_assert_eq(vq_disable_notification(fx_q), 0);
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    uint16_t off_wrap, flags;
    cr_assert_eq(vmem_load_le16(fx_map, fx_device, &off_wrap), 0);
    cr_assert_eq(vmem_load_le16(fx_map, fx_device + 2, &flags), 0);
    cr_assert_eq(flags, VQ_RING_EVENT_FLAGS_DESC);
    cr_assert_eq(off_wrap, 255 | 0x8000);
    fx_add(2, 8, 0, 0); /* positions 255 and 0: crosses into wrap 0 */
    cr_assert(vq_mock_kick_needed(fx_mk));
    fx_add(1, 8, 0, 0);
    cr_assert_not(vq_mock_kick_needed(fx_mk));
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(fx_pop_walk(&c, NULL, NULL), 0);
    cr_assert_eq(vq_enable_notification(fx_q), 0);
    cr_assert_eq(vmem_load_le16(fx_map, fx_device, &off_wrap), 0);
    cr_assert_eq(off_wrap, 2, "position 2, wrap 0");
}

/* ---- a driver thread and a device thread: no kick may be lost ---- */

#define RACE_N 20000u

struct race {
    int kick;         /* eventfd */
    atomic_uint done; /* chains the device completed */
    atomic_bool stop;
};

static void *device_thread(void *arg)
{
    struct race *r = arg;
    vq_chain c;
    for (;;) {
        int more;
        do {
            FX_CHECK(vq_disable_notification(fx_q) == 0);
            while (vq_pop(fx_q, &c) == 1) {
                vq_desc_info d;
                while (vq_chain_next(fx_q, &c, &d) == 1) {
                }
                FX_CHECK(vq_add_used(fx_q, c.head, 0) == 0);
                atomic_fetch_add(&r->done, 1);
            }
            more = vq_enable_notification(fx_q);
            FX_CHECK(more >= 0);
        } while (more == 1);
        if (atomic_load(&r->done) == RACE_N)
            return NULL;
        struct pollfd p = {.fd = r->kick, .events = POLLIN};
        int n = poll(&p, 1, 30000);
        if (n == 0)
            return (void *)1; /* 30 s without a kick while work is pending: a lost kick (the driver thread
                                 may be descheduled for seconds on a loaded machine, never for that long) */
        uint64_t v;
        FX_CHECK(read(r->kick, &v, sizeof(v)) == sizeof(v));
    }
}

static void race(void)
{
    struct race r = {.kick = eventfd(0, EFD_CLOEXEC)};
    cr_assert_geq(r.kick, 0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, device_thread, &r), 0);
    uint16_t h;
    uint32_t l;
    for (unsigned i = 0; i < RACE_N; i++) {
        while (vq_mock_free_descs(fx_mk) < 2)
            if (vq_mock_used(fx_mk, &h, &l) == 0)
                sched_yield();
        fx_add(1 + i % 2, 8, 0, i % 8);
        if (vq_mock_kick_needed(fx_mk)) {
            uint64_t one = 1;
            FX_CHECK(write(r.kick, &one, sizeof(one)) == sizeof(one));
        }
    }
    void *ret;
    cr_assert_eq(pthread_join(t, &ret), 0);
    cr_assert_null(ret, "a kick was lost (device waited 30 s with work pending)");
    cr_assert_eq(atomic_load(&r.done), RACE_N);
    close(r.kick);
}

Test(notify, no_lost_kick_split, .init = fx_split) { race(); }
Test(notify, no_lost_kick_split_event_idx, .init = fx_split_ei) { race(); }
Test(notify, no_lost_kick_packed, .init = fx_packed) { race(); }
Test(notify, no_lost_kick_packed_event_idx, .init = fx_packed_ei) { race(); }
