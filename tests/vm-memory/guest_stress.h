/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** tests/vm-memory/guest_stress.h - the map-swap stress shared by the Criterion suite (guest.c) and the
 *  plain TSan driver (guest_tsan.c): reader threads read every region of their map while the writer
 *  publishes maps that add and remove regions.  No Criterion here. */
#ifndef CVMM_TESTS_VMEM_GUEST_STRESS_H
#define CVMM_TESTS_VMEM_GUEST_STRESS_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "cvmm/vmem.h"

#define STRESS_READERS 3
#define STRESS_SLOTS 8

struct stress {
    vmem_guest *g;
    atomic_bool stop;
    atomic_int started;
    atomic_ulong reads;
    atomic_int bad;
};

/* Read every region of @m at a pseudo-random offset and check its tag (gpa >> 16); returns the reads. */
static inline unsigned long stress_check_map(struct stress *s, const vmem_map *m, unsigned long *seed)
{
    size_t count = vmem_map_count(m);
    for (size_t k = 0; k < count; k++) {
        const vmem_region *reg = vmem_map_region(m, k);
        uint64_t gpa = vmem_region_gpa(reg);
        uint8_t tag = (uint8_t)(gpa >> 16), buf[16];
        *seed = *seed * 6364136223846793005ul + 1442695040888963407ul;
        uint64_t off = (*seed >> 33) % (4096 - sizeof(buf));
        uint64_t v;
        if (vmem_read(m, gpa + off, buf, sizeof(buf)) != 0 || buf[0] != tag || buf[15] != tag ||
            vmem_load_le64(m, gpa + (off & ~7ull), &v) != 0 || (uint8_t)v != tag)
            atomic_fetch_add(&s->bad, 1);
    }
    return count;
}

static inline void *stress_reader(void *arg)
{
    struct stress *s = arg;
    vmem_reader *r;
    if (vmem_reader_register(s->g, &r) != 0) {
        atomic_fetch_add(&s->bad, 1);
        atomic_fetch_add(&s->started, 1);
        return NULL;
    }
    atomic_fetch_add(&s->started, 1);
    unsigned long n = 0, seed = (unsigned long)(uintptr_t)&r;
    for (unsigned it = 1; !atomic_load_explicit(&s->stop, memory_order_relaxed); it++) {
        const vmem_map *m = vmem_reader_map(r);
        n += stress_check_map(s, m, &seed);
        if (it % 4 == 0) { /* hold the map across a yield: the writer has to wait for us */
            sched_yield();
            n += stress_check_map(s, m, &seed);
        }
        if (it % 64 == 0) { /* now and then, sleep offline like a worker in epoll */
            vmem_reader_offline(r);
            sched_yield();
            if (it % 128 == 0)
                vmem_reader_online(r); /* otherwise quiescent() below brings it online */
        }
        vmem_reader_quiescent(r);
    }
    vmem_reader_unregister(r);
    atomic_fetch_add(&s->reads, n);
    return NULL;
}

/* stress_run() - @publishes publications under STRESS_READERS readers.  Slot i holds a region at gpa
 * (i + 1) << 16 whose bytes are all i + 1; each publication adds or removes one slot, and each new region
 * is a fresh mapping, so a reader still using a freed map faults or reads a wrong tag.
 * Returns NULL on success or what went wrong; *reads: the reads done. */
static inline const char *stress_run(vmem_guest *g, const struct cvmm_log *log, int publishes, unsigned long *reads)
{
    struct stress s = {.g = g};
    pthread_t th[STRESS_READERS];
    const char *err = NULL;
    int started = 0;
    for (; started < STRESS_READERS; started++)
        if (pthread_create(&th[started], NULL, stress_reader, &s) != 0) {
            err = "pthread_create failed";
            break;
        }
    while (atomic_load(&s.started) < started)
        sched_yield();
    vmem_map *m = NULL; /* the writer's own copy of what it published last */
    if (!err && vmem_map_new(NULL, 0, NULL, log, &m) != 0)
        err = "vmem_map_new failed";
    bool present[STRESS_SLOTS] = {false};
    unsigned long seed = 12345;
    for (int i = 0; !err && i < publishes; i++) {
        seed = seed * 6364136223846793005ul + 1442695040888963407ul;
        unsigned slot = (unsigned)(seed >> 40) % STRESS_SLOTS;
        uint64_t gpa = (uint64_t)(slot + 1) << 16;
        vmem_map *next = NULL, *mine = NULL;
        if (present[slot]) {
            if (vmem_map_without_region(m, gpa, 4096, 0, &next) != 0)
                err = "vmem_map_without_region failed";
        } else {
            vmem_region *r;
            vmem_region_desc d = {.gpa = gpa, .size = 4096};
            if (vmem_region_new_anon(&d, log, &r) != 0) {
                err = "vmem_region_new_anon failed";
                break;
            }
            memset(vmem_region_hva(r), (int)(slot + 1), 4096);
            if (vmem_map_with_region(m, r, &next) != 0)
                err = "vmem_map_with_region failed";
            vmem_region_unref(r);
        }
        if (err)
            break;
        present[slot] = !present[slot];
        /* Keep a copy: publish takes @next, and the guest frees it when a later publication replaces it. */
        if (vmem_map_with_log(next, NULL, &mine) != 0) {
            vmem_map_free(next);
            err = "vmem_map_with_log failed";
            break;
        }
        if (vmem_guest_publish(g, next) != 0)
            err = "vmem_guest_publish failed";
        vmem_map_free(m);
        m = mine;
    }
    atomic_store(&s.stop, true);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    vmem_map_free(m);
    *reads = atomic_load(&s.reads);
    if (!err && atomic_load(&s.bad) != 0)
        err = "readers saw torn or freed maps";
    if (!err && *reads == 0)
        err = "readers read nothing";
    return err;
}

#endif
