/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* serve.c - vub_queue_serve(): a queue served request by request, in groups (cvmm/vub/serve.h; the loop is
 * cvmm/vub/serve_inline.h's). */
#include "internal.h"
#include "cvmm/vub/serve_inline.h"

void vub__serve_too_long(vub_queue *q, uint16_t head)
{
    if (!q->long_logged)
        cvmm_logf(q->d->log, CVMM_LOG_WARN,
                  "%s: vq%u: chain %u has more than %u descriptors: answered empty (logged once)", q->d->name, q->index,
                  head, VUB_SERVE_DESCS_MAX);
    q->long_logged = true;
}

int vub_queue_serve_budget(vub_queue *q, vub_request_fn *fn, void *ctx, uint32_t budget)
{
    return vub_queue_serve_inline(q, fn, ctx, budget);
}
int vub_queue_serve(vub_queue *q, vub_request_fn *fn, void *ctx) { return vub_queue_serve_budget(q, fn, ctx, 0); }

int vub_queue_enabled_kick(void *ctx, vub_queue *q, bool enabled)
{
    (void)ctx;
    if (enabled && vub_queue_started(q))
        return vub_queue_kick(q);
    return 0;
}
