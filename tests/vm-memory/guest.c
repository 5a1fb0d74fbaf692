/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/guest.c - publishing maps under concurrent readers (cvmm/vmem/guest.h).
 * Also run under TSan (ctest label "tsan"). */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "guest_stress.h"
#include "helpers.h"

static vmem_guest *guest;

static void setup(void)
{
    fd_mark();
    cr_assert_eq(vmem_guest_new(&test_log, &guest), 0);
}

static void teardown(void)
{
    vmem_guest_free(guest);
    no_fd_leaked();
}

TestSuite(vmem_guest, .init = setup, .fini = teardown, .timeout = 120);

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* A map with one region at @gpa whose bytes are all @tag. */
static vmem_map *tagged_map(uint64_t gpa, uint8_t tag)
{
    vmem_region *r = anon_region(gpa, 4096, 0);
    memset(vmem_region_hva(r), tag, 4096);
    return map_of(&r, 1, NULL);
}

Test(vmem_guest, starts_with_an_empty_map)
{
    const vmem_map *m = vmem_guest_map(guest);
    cr_assert_not_null(m);
    cr_assert_eq(vmem_map_count(m), 0);
    cr_assert_eq(vmem_map_logger(m), &test_log);
}

Test(vmem_guest, publish_replaces_the_map)
{
    vmem_map *m = tagged_map(0, 1);
    cr_assert_eq(vmem_guest_publish(guest, m), 0);
    cr_assert_eq(vmem_guest_map(guest), m);
    vmem_map *m2 = tagged_map(4096, 2);
    cr_assert_eq(vmem_guest_publish(guest, m2), 0); /* frees m: ASan would catch a use or a leak */
    cr_assert_eq(vmem_guest_map(guest), m2);
}

Test(vmem_guest, publish_null_is_einval)
{
    const vmem_map *before = vmem_guest_map(guest);
    cr_assert_eq(vmem_guest_publish(guest, NULL), -EINVAL);
    cr_assert_eq(vmem_guest_map(guest), before);
}

Test(vmem_guest, publish_from_a_thread_with_an_online_reader_is_edeadlk)
{
    vmem_reader *r;
    cr_assert_eq(vmem_reader_register(guest, &r), 0);
    const vmem_map *before = vmem_reader_map(r);
    cap.lines = 0;
    cr_assert_eq(vmem_guest_publish(guest, tagged_map(0, 1)), -EDEADLK); /* the map is freed (ASan: no leak) */
    cr_assert_eq(cap.lines, 1);
    cr_assert_eq(cap.last_level, CVMM_LOG_ERROR);
    cr_assert_eq(vmem_guest_map(guest), before, "not published");
    /* Offline, the same thread may publish: its reader holds nothing. */
    vmem_reader_offline(r);
    vmem_map *m = tagged_map(0, 1);
    cr_assert_eq(vmem_guest_publish(guest, m), 0);
    cr_assert_eq(vmem_reader_map(r), m, "reader_map brings the reader online with the new map");
    cr_assert_eq(vmem_guest_publish(guest, tagged_map(0, 2)), -EDEADLK, "online again");
    vmem_reader_unregister(r);
    cr_assert_eq(vmem_guest_publish(guest, tagged_map(0, 3)), 0);
}

Test(vmem_guest, reader_sees_the_published_map_after_quiescent)
{
    vmem_reader *r;
    cr_assert_eq(vmem_reader_register(guest, &r), 0);
    vmem_reader_offline(r);
    vmem_map *m = tagged_map(0, 7);
    cr_assert_eq(vmem_guest_publish(guest, m), 0);
    vmem_reader_online(r);
    cr_assert_eq(vmem_reader_map(r), m);
    vmem_reader_quiescent(r);
    cr_assert_eq(vmem_reader_map(r), m);
    vmem_reader_unregister(r);
    vmem_reader_unregister(NULL);
}

/* ---- a reader on another thread holds the map; the writer must wait for it ------------------------- */
struct holder {
    vmem_guest *g;
    atomic_int stage; /* 1: holding the map; 2: told to release; 3: released */
    const vmem_map *held;
    uint8_t seen;
    bool go_offline; /* release by going offline instead of quiescent */
    bool unregister; /* release by unregistering */
};

static void *hold_then_release(void *arg)
{
    struct holder *h = arg;
    vmem_reader *r;
    if (vmem_reader_register(h->g, &r) != 0)
        return (void *)1;
    h->held = vmem_reader_map(r);
    atomic_store(&h->stage, 1);
    while (atomic_load(&h->stage) != 2)
        sleep_ms(1);
    if (vmem_read(h->held, 0, &h->seen, 1) != 0) /* still valid: the writer is waiting for us */
        return (void *)2;
    if (h->unregister) {
        vmem_reader_unregister(r);
        r = NULL;
    } else if (h->go_offline) {
        vmem_reader_offline(r);
    } else {
        vmem_reader_quiescent(r);
    }
    atomic_store(&h->stage, 3);
    vmem_reader_unregister(r);
    return NULL;
}

struct publisher {
    vmem_guest *g;
    vmem_map *m;
    atomic_int done;
    int rc;
};

static void *publish_thread(void *arg)
{
    struct publisher *p = arg;
    p->rc = vmem_guest_publish(p->g, p->m);
    atomic_store(&p->done, 1);
    return NULL;
}

static void writer_waits_for(bool go_offline, bool unregister)
{
    cr_assert_eq(vmem_guest_publish(guest, tagged_map(0, 0x11)), 0);
    struct holder h = {.g = guest, .go_offline = go_offline, .unregister = unregister};
    pthread_t th, tp;
    cr_assert_eq(pthread_create(&th, NULL, hold_then_release, &h), 0);
    while (atomic_load(&h.stage) != 1)
        sleep_ms(1);
    struct publisher p = {.g = guest, .m = tagged_map(0, 0x22)};
    cr_assert_eq(pthread_create(&tp, NULL, publish_thread, &p), 0);
    /* The publisher makes the new map current first, then waits for the reader: wait (30 s at most) for
     * the first step, however late its thread runs; it must not return before the reader lets go. */
    for (int i = 0; i < 30000 && vmem_guest_map(guest) != p.m; i++)
        sleep_ms(1);
    cr_assert_eq(vmem_guest_map(guest), p.m, "the new map became current");
    sleep_ms(50); /* time for a publish that wrongly returned to show */
    cr_assert_eq(atomic_load(&p.done), 0, "publish returned while a reader held the old map");
    atomic_store(&h.stage, 2);
    void *hr;
    pthread_join(th, &hr);
    pthread_join(tp, NULL);
    cr_assert_null(hr);
    cr_assert_eq(h.seen, 0x11, "the held map was intact until released");
    cr_assert_eq(p.rc, 0);
}

Test(vmem_guest, writer_waits_for_a_reader_holding_the_old_map) { writer_waits_for(false, false); }
Test(vmem_guest, writer_waits_until_the_reader_goes_offline) { writer_waits_for(true, false); }
Test(vmem_guest, writer_waits_until_the_reader_unregisters) { writer_waits_for(false, true); }

static void *register_offline_wait(void *arg)
{
    struct holder *h = arg;
    vmem_reader *r;
    if (vmem_reader_register(h->g, &r) != 0)
        return (void *)1;
    vmem_reader_offline(r);
    atomic_store(&h->stage, 1);
    while (atomic_load(&h->stage) != 2)
        sleep_ms(1);
    h->held = vmem_reader_map(r); /* online again: the newest map */
    vmem_reader_unregister(r);
    return NULL;
}

Test(vmem_guest, offline_readers_do_not_delay_the_writer)
{
    struct holder h = {.g = guest};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, register_offline_wait, &h), 0);
    while (atomic_load(&h.stage) != 1)
        sleep_ms(1);
    vmem_map *m = NULL;
    for (int i = 0; i < 100; i++) { /* would hang: the reader only goes online after these publishes */
        m = tagged_map(0, (uint8_t)i);
        cr_assert_eq(vmem_guest_publish(guest, m), 0);
    }
    atomic_store(&h.stage, 2);
    pthread_join(th, NULL);
    cr_assert_eq(h.held, m);
}

/* ---- stress: readers read while the writer publishes thousands of maps ---------------------------- */
Test(vmem_guest, map_swap_under_concurrent_readers)
{
    unsigned long reads = 0;
    const char *err = stress_run(guest, &test_log, 3000, &reads);
    cr_assert_null(err, "%s", err);
    cr_assert_gt(reads, 0);
}

Test(vmem_guest, free_null_is_a_no_op) { vmem_guest_free(NULL); }
