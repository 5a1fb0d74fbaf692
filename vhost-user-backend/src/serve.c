/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* serve.c - vub_queue_serve(): a queue served request by request (cvmm/vub/serve.h). */
#include <errno.h>

#include "internal.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vub/queue.h"
#include "cvmm/vub/serve.h"

/* A batch of used elements, published with one vq_add_used_batch(). */
struct used_batch {
    vq_used_elem e[VUB_SERVE_BATCH];
    unsigned n;
};

static int flush(vq_queue *vq, struct used_batch *b)
{
    int rc = b->n ? vq_add_used_batch(vq, b->e, b->n) : 0;
    b->n = 0;
    return rc;
}

static int add(vq_queue *vq, struct used_batch *b, uint16_t head, uint32_t len)
{
    b->e[b->n].head = head;
    b->e[b->n].len = len;
    return ++b->n == VUB_SERVE_BATCH ? flush(vq, b) : 0;
}

/* drain() - pop, snapshot and serve until the ring is empty, with kicks off; then kicks on and look again.
 * At most one ring's worth of chains per call: a guest that refills the ring as fast as the device answers
 * must not keep the worker (its other rings, and the control thread's calls, which wait for it) for ever.
 * When the budget runs out the queue is kicked again (vub_queue_kick()): the worker comes back to it after
 * the rest of its work, and notifications stay off meanwhile. */
static int drain(vub_queue *q, vq_queue *vq, vub_request_fn *fn, void *ctx, struct used_batch *b)
{
    vq_desc_info desc[VUB_SERVE_DESCS_MAX]; /* 24 KiB of the worker's stack: serving never allocates */
    vq_snapshot s;
    vq_chain c;
    int rc, served = 0;
    uint32_t budget = vq_queue_size(vq), taken = 0;
    do {
        if ((rc = vq_disable_notification(vq)) < 0)
            return rc;
        while (taken < budget && (rc = vq_pop(vq, &c)) == 1) {
            taken++;
            uint32_t used = 0;
            rc = vq_snapshot_take(vq, &c, desc, VUB_SERVE_DESCS_MAX, &s);
            if (rc == -ENOSPC) {
                cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: chain %u has more than %u descriptors: answered empty",
                          q->d->name, q->index, c.head, VUB_SERVE_DESCS_MAX);
                if ((rc = add(vq, b, c.head, 0)) < 0)
                    return rc;
                continue;
            }
            if (rc < 0)
                return rc;
            int frc = fn(ctx, q, &s, &used);
            if ((rc = add(vq, b, c.head, used)) < 0)
                return rc;
            if (frc < 0)
                return frc;
            served++;
        }
        if (rc < 0)
            return rc;
        /* Publish before asking for kicks again, so the re-check cannot race with our own used entries. */
        if ((rc = flush(vq, b)) < 0)
            return rc;
        if (taken == budget) {
            (void)vub_queue_kick(q);
            return served;
        }
    } while ((rc = vub_queue_drained(q)) == 1); /* busy-poll, then kicks on (busypoll.c) */
    return rc < 0 ? rc : served;
}

int vub_queue_serve(vub_queue *q, vub_request_fn *fn, void *ctx)
{
    if (!q || !fn)
        return -EINVAL;
    if (!vub_queue_started(q) || !vub_queue_enabled(q))
        return 0; /* spec, "Ring states": a disabled ring is processed without side effects */
    vq_queue *vq = vub_queue_vq(q);
    struct used_batch b = {.n = 0};
    int rc = drain(q, vq, fn, ctx, &b);
    int frc = flush(vq, &b); /* what was served before an error is still given back */
    int nrc = vub_queue_notify(q);
    if (rc < 0)
        return rc;
    if (frc < 0)
        return frc;
    return nrc < 0 ? nrc : rc;
}

int vub_queue_enabled_kick(void *ctx, vub_queue *q, bool enabled)
{
    (void)ctx;
    if (enabled && vub_queue_started(q))
        return vub_queue_kick(q);
    return 0;
}
