/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/guest.c - the published map and its QSBR grace periods (cvmm/vmem/guest.h).
 *
 * Protocol (liburcu-qsbr's, with C11 atomics and no fences):
 *   - g->epoch counts publications (starts at 1).  A reader's ctr is 0 while it is offline, otherwise the
 *     epoch it last observed at a quiescent point.
 *   - The writer swaps g->cur (seq_cst exchange), stores epoch E+1 (seq_cst), then waits until every
 *     registered reader has ctr 0 or E+1, and only then frees the old map.
 *   - quiescent(): ctr = load-acquire(epoch) with a store-release.  Everything the reader did with the old
 *     map happens before that store; a writer that load-acquires ctr == E+1 may free it.  A reader that saw
 *     E+1 also sees the new g->cur (the writer stored cur before the epoch).
 *   - online(): ctr = epoch with a seq_cst store followed by a seq_cst load of g->cur.  Together with the
 *     writer's seq_cst exchange and seq_cst loads of ctr this is Dekker's pattern: either the writer sees
 *     the reader online (and waits for it) or the reader sees the new map.
 * The writer holds two mutexes: `publish` for the whole publication (serialising writers) and `lock`, the
 * reader list's, only while it scans; so readers can register and unregister while a writer waits. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "cvmm/vmem/guest.h"
#include "internal.h"

struct vmem_reader {
    _Atomic uint64_t ctr; /* 0 offline, else the epoch observed; written by the owner thread only */
    vmem_guest *g;
    pthread_t owner;
    struct vmem_reader *prev, *next; /* g->readers list, under g->lock */
};

struct vmem_guest {
    _Atomic(vmem_map *) cur;
    _Atomic uint64_t epoch;
    pthread_mutex_t publish; /* serialises vmem_guest_publish() */
    pthread_mutex_t lock;    /* protects readers */
    struct vmem_reader *readers;
    const struct cvmm_log *log;
};

int vmem_guest_new(const struct cvmm_log *log, vmem_guest **out)
{
    vmem_guest *g = calloc(1, sizeof(*g));
    vmem_map *m = NULL;
    int rc = -ENOMEM;
    if (!g)
        goto fail;
    rc = vmem_map_new(NULL, 0, NULL, log, &m);
    if (rc < 0)
        goto fail_g;
    if (pthread_mutex_init(&g->publish, NULL) != 0) {
        rc = -ENOMEM;
        goto fail_map;
    }
    if (pthread_mutex_init(&g->lock, NULL) != 0) {
        rc = -ENOMEM;
        goto fail_publish;
    }
    atomic_init(&g->cur, m);
    atomic_init(&g->epoch, 1);
    g->log = log;
    *out = g;
    return 0;
fail_publish:
    pthread_mutex_destroy(&g->publish);
fail_map:
    vmem_map_free(m);
fail_g:
    free(g);
fail:
    cvmm_logf(log, CVMM_LOG_ERROR, "vmem: guest: out of memory");
    return rc;
}

void vmem_guest_free(vmem_guest *g)
{
    if (!g)
        return;
    if (g->readers)
        cvmm_logf(g->log, CVMM_LOG_ERROR, "vmem: guest freed with registered readers (they now dangle)");
    vmem_map_free(atomic_load_explicit(&g->cur, memory_order_relaxed));
    pthread_mutex_destroy(&g->lock);
    pthread_mutex_destroy(&g->publish);
    free(g);
}

/* Does the calling thread own a reader of @g that is online? */
static bool self_online(vmem_guest *g)
{
    bool found = false;
    pthread_t self = pthread_self();
    pthread_mutex_lock(&g->lock);
    for (struct vmem_reader *r = g->readers; r && !found; r = r->next)
        found = pthread_equal(r->owner, self) && atomic_load_explicit(&r->ctr, memory_order_relaxed) != 0;
    pthread_mutex_unlock(&g->lock);
    return found;
}

/* Has every reader passed a quiescent point since epoch @e began (or gone offline)? */
static bool grace_done(vmem_guest *g, uint64_t e)
{
    bool done = true;
    pthread_mutex_lock(&g->lock);
    for (struct vmem_reader *r = g->readers; r && done; r = r->next) {
        uint64_t c = atomic_load_explicit(&r->ctr, memory_order_seq_cst); /* pairs with quiescent/online */
        done = c == 0 || c == e;
    }
    pthread_mutex_unlock(&g->lock);
    return done;
}

int vmem_guest_publish(vmem_guest *g, vmem_map *owned_map)
{
    if (!owned_map) {
        cvmm_logf(g->log, CVMM_LOG_ERROR, "vmem: guest: publish of a NULL map");
        return -EINVAL;
    }
    if (self_online(g)) {
        cvmm_logf(g->log, CVMM_LOG_ERROR,
                  "vmem: guest: publish from a thread with an online reader would wait for itself");
        vmem_map_free(owned_map);
        return -EDEADLK;
    }
    pthread_mutex_lock(&g->publish);
    vmem_map *old = atomic_exchange_explicit(&g->cur, owned_map, memory_order_seq_cst);
    uint64_t e = atomic_load_explicit(&g->epoch, memory_order_relaxed) + 1; /* only we write it */
    atomic_store_explicit(&g->epoch, e, memory_order_seq_cst); /* after cur: a reader seeing e sees the map */
    for (unsigned spins = 0; !grace_done(g, e); spins++) {
        if (spins < 64) {
            sched_yield();
        } else {
            struct timespec ts = {.tv_sec = 0, .tv_nsec = spins < 1024 ? 20000 : 1000000};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_unlock(&g->publish);
    vmem_map_free(old);
    return 0;
}

const vmem_map *vmem_guest_map(const vmem_guest *g)
{
    return atomic_load_explicit(&((vmem_guest *)(uintptr_t)g)->cur, memory_order_acquire);
}

int vmem_reader_register(vmem_guest *g, vmem_reader **out)
{
    vmem_reader *r = calloc(1, sizeof(*r));
    if (!r) {
        cvmm_logf(g->log, CVMM_LOG_ERROR, "vmem: guest: reader: out of memory");
        return -ENOMEM;
    }
    atomic_init(&r->ctr, 0); /* offline until listed, so no writer waits for a half-made reader */
    r->g = g;
    r->owner = pthread_self();
    pthread_mutex_lock(&g->lock);
    r->next = g->readers;
    if (g->readers)
        g->readers->prev = r;
    g->readers = r;
    pthread_mutex_unlock(&g->lock);
    vmem_reader_online(r);
    *out = r;
    return 0;
}

void vmem_reader_unregister(vmem_reader *r)
{
    if (!r)
        return;
    vmem_guest *g = r->g;
    vmem_reader_offline(r); /* a waiting writer must not wait for us while we wait for the lock */
    pthread_mutex_lock(&g->lock);
    if (r->prev)
        r->prev->next = r->next;
    else
        g->readers = r->next;
    if (r->next)
        r->next->prev = r->prev;
    pthread_mutex_unlock(&g->lock);
    free(r);
}

const vmem_map *vmem_reader_map(vmem_reader *r)
{
    if (CVMM_UNLIKELY(atomic_load_explicit(&r->ctr, memory_order_relaxed) == 0))
        vmem_reader_online(r);
    /* Pairs with the writer's exchange: the map's contents are visible. */
    return atomic_load_explicit(&r->g->cur, memory_order_acquire);
}

void vmem_reader_quiescent(vmem_reader *r)
{
    /* An offline reader coming back needs online()'s ordering (see the top of this file). */
    if (CVMM_UNLIKELY(atomic_load_explicit(&r->ctr, memory_order_relaxed) == 0)) {
        vmem_reader_online(r);
        return;
    }
    /* Acquire pairs with the writer's epoch store (the new map is visible from here on); release publishes
     * "done with every earlier map" to the writer's load of ctr. */
    uint64_t e = atomic_load_explicit(&r->g->epoch, memory_order_acquire);
    atomic_store_explicit(&r->ctr, e, memory_order_release);
}

void vmem_reader_offline(vmem_reader *r)
{
    /* Release: our uses of the map happen before a writer that sees 0 frees it. */
    atomic_store_explicit(&r->ctr, 0, memory_order_release);
}

void vmem_reader_online(vmem_reader *r)
{
    uint64_t e = atomic_load_explicit(&r->g->epoch, memory_order_acquire);
    atomic_store_explicit(&r->ctr, e, memory_order_seq_cst);
    /* Dekker with the writer's exchange of cur then load of ctr (see the top of this file). */
    (void)atomic_load_explicit(&r->g->cur, memory_order_seq_cst);
}
