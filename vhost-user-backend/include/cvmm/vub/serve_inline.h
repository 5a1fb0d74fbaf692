/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/serve_inline.h - vub_queue_serve_inline(): vub_queue_serve_budget() compiled into its caller.
 *
 *  vub_queue_serve() calls the request function through a pointer for every chain, from a library the
 *  compiler cannot see into.  A device whose requests cost tens of nanoseconds (a 64-byte frame) pays for
 *  that call: cvmm-net's tx moved 1.05x as many frames with the loop compiled into it (the benches' README,
 *  "Figures, session 10").  vub_queue_serve_inline() is the same loop (vub_queue_serve_budget() is this
 *  function), always inlined: with a constant @fn the request is inlined into it too.  Everything
 *  cvmm/vub/serve.h says holds; the names with two underscores below are its parts, not API.
 *
 *  Cost: the loop is compiled into every caller, and its state (24 KiB: the group's descriptors) is on the
 *  caller's stack.  Threads: worker (the queue's), like every vub_queue function. */
#ifndef CVMM_VUB_SERVE_INLINE_H
#define CVMM_VUB_SERVE_INLINE_H

#include <errno.h>
#include <stdint.h>

#include "cvmm/compiler.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vub/queue.h"
#include "cvmm/vub/serve.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vub__serve_too_long() - (private) a chain of more than VUB_SERVE_DESCS_MAX descriptors met: log it
 *  once per queue start.  Threads: worker. */
void vub__serve_too_long(vub_queue *q, uint16_t head);

/* One call of vub_queue_serve_budget(): the used entries not published yet and the group being taken.
 * The group's snapshots share one pool of descriptors (the chains of a group are short; a long one is
 * taken after the group before it was served, with the whole pool).  24 KiB, on the worker's stack:
 * serving never allocates. */
struct vub__server {
    vub_queue *q;
    vq_queue *vq;
    int served;  /* requests answered by fn without an error */
    int failed;  /* the first error fn returned; 0: none */
    unsigned nb; /* used entries in b */
    vq_used_elem b[VUB_SERVE_BATCH];
    unsigned n;     /* chains in the group */
    uint32_t taken; /* pool entries the group's snapshots hold */
    vq_snapshot s[VUB_SERVE_GROUP];
    vq_desc_info pool[VUB_SERVE_DESCS_MAX];
};

static CVMM_ALWAYS_INLINE int vub__serve_flush(struct vub__server *sv)
{
    int rc = sv->nb ? vq_add_used_batch(sv->vq, sv->b, sv->nb) : 0;
    sv->nb = 0;
    return rc;
}

static CVMM_ALWAYS_INLINE int vub__serve_add(struct vub__server *sv, uint16_t head, uint32_t len)
{
    sv->b[sv->nb].head = head;
    sv->b[sv->nb].len = len;
    return ++sv->nb == VUB_SERVE_BATCH ? vub__serve_flush(sv) : 0;
}

/* vub__serve_group() - the group's requests, in the order they were popped, each used after fn answered
 * it.  A failing fn does not leave the rest of the group unanswered: they were taken from the ring
 * already, so fn gets them too, and the first error is kept for the caller, which stops there.
 * Return: 0; -EIO the ring broke (publishing failed). */
static CVMM_ALWAYS_INLINE int vub__serve_group(struct vub__server *sv, vub_request_fn *fn, void *ctx)
{
    unsigned n = sv->n;
    sv->n = 0;
    sv->taken = 0;
    for (unsigned i = 0; i < n; i++) {
        uint32_t used = 0;
        int frc = fn(ctx, sv->q, &sv->s[i], &used);
        if (frc < 0 && sv->failed == 0)
            sv->failed = frc;
        else if (frc >= 0)
            sv->served++;
        int rc = vub__serve_add(sv, sv->s[i].head, used);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* vub__serve_take() - snapshot the popped chain @c into the group and start loading its first buffer.
 * The group's requests are served once it is full: the first touch of each buffer (a cache line the
 * driver's CPU wrote last, a miss every time) then overlaps with the others' instead of stalling the copy
 * of each in turn (cvmm-net's packed tx 1.12x: the benches' README, "Figures, session 10").  A chain the
 * pool has no room left for is taken again after the group was served; one longer than the whole pool is
 * answered empty (after the chains before it: IN_ORDER holds) and logged once per queue start.
 * Return: 0; -EIO broken. */
static CVMM_ALWAYS_INLINE int vub__serve_take(struct vub__server *sv, const vq_chain *c, vub_request_fn *fn, void *ctx)
{
    vq_snapshot *s = &sv->s[sv->n];
    int rc = vq_snapshot_take(sv->vq, c, sv->pool + sv->taken, VUB_SERVE_DESCS_MAX - sv->taken, s);
    if (rc == -ENOSPC && sv->n > 0) {
        if ((rc = vub__serve_group(sv, fn, ctx)) < 0)
            return rc;
        s = &sv->s[0];
        rc = vq_snapshot_take(sv->vq, c, sv->pool, VUB_SERVE_DESCS_MAX, s);
    }
    if (rc == -ENOSPC) {
        vub__serve_too_long(sv->q, c->head);
        return vub__serve_add(sv, c->head, 0);
    }
    if (rc < 0)
        return rc;
    /* A device-readable first buffer is loaded now; a writable one is not (taking its line for writing early
     * made cvmm-net's rx 0.73x as fast: the benches' README, "Figures, session 10"). */
    if (s->ndesc && s->desc[0].hva && !s->desc[0].write)
        __builtin_prefetch(s->desc[0].hva, 0, 3);
    sv->taken += s->ndesc;
    sv->n++;
    return 0;
}

/* vub__serve_drain() - pop, snapshot and serve until the ring is empty, with kicks off; then kicks on and
 * look again.  At most @budget chains per call: a guest that refills the ring as fast as the device
 * answers must not keep the worker (its other rings, and the control thread's calls, which wait for it)
 * for ever.  When the budget runs out the queue is kicked again (vub_queue_kick()): the worker comes back
 * to it after the rest of its work, and notifications stay off meanwhile.  Return: as
 * vub_queue_serve_budget(). */
static CVMM_ALWAYS_INLINE int vub__serve_drain(struct vub__server *sv, uint32_t budget, vub_request_fn *fn, void *ctx)
{
    vq_chain c;
    uint32_t popped = 0;
    int rc;
    do {
        if ((rc = vq_disable_notification(sv->vq)) < 0)
            return rc;
        do {
            while (sv->n < VUB_SERVE_GROUP && popped < budget && (rc = vq_pop(sv->vq, &c)) == 1) {
                popped++;
                int trc = vub__serve_take(sv, &c, fn, ctx);
                if (trc < 0) {
                    rc = trc;
                    break;
                }
                if (sv->failed) /* vub__serve_take() served the group before it, and fn failed there */
                    break;
            }
            if (rc < 0) /* the ring broke (a chain broke a rule): nothing can be used any more, none is served */
                return rc;
            int grc = vub__serve_group(sv, fn, ctx); /* rc stays the pop's: 1 while the ring may hold more */
            if (grc < 0)
                return grc;
            if (sv->failed) {
                /* Kicks are still off and the ring may hold more, which the driver will not kick for: come
                 * back to it after the worker's other work, as when the budget runs out (the caller publishes
                 * what was used before that).  Each call answers at least one chain, so a request that keeps
                 * failing still drains the ring. */
                (void)vub_queue_kick(sv->q);
                return sv->failed;
            }
        } while (rc == 1 && popped < budget);
        /* Publish before asking for kicks again, so the re-check cannot race with our own used entries. */
        if ((rc = vub__serve_flush(sv)) < 0)
            return rc;
        if (popped == budget) {
            (void)vub_queue_kick(sv->q);
            return sv->served;
        }
    } while ((rc = vub_queue_drained(sv->q)) == 1); /* busy-poll, then kicks on (busypoll.c) */
    return rc < 0 ? rc : sv->served;
}

/** vub_queue_serve_inline() - vub_queue_serve_budget(), compiled into the caller.  Return: as
 *  vub_queue_serve().  Threads: worker. */
static CVMM_ALWAYS_INLINE int vub_queue_serve_inline(vub_queue *q, vub_request_fn *fn, void *ctx, uint32_t budget)
{
    if (!q || !fn)
        return -EINVAL;
    if (!vub_queue_started(q) || !vub_queue_enabled(q))
        return 0; /* spec, "Ring states": a disabled ring is processed without side effects */
    struct vub__server sv;
    sv.q = q;
    sv.vq = vub_queue_vq(q);
    sv.served = sv.failed = 0;
    sv.nb = sv.n = sv.taken = 0;
    int rc = vub__serve_drain(&sv, budget ? budget : vq_queue_size(sv.vq), fn, ctx);
    int frc = vub__serve_flush(&sv); /* what was served before an error is still given back */
    int nrc = vub_queue_notify(q);
    if (rc < 0)
        return rc;
    if (frc < 0)
        return frc;
    return nrc < 0 ? nrc : rc;
}

#ifdef __cplusplus
}
#endif
#endif
