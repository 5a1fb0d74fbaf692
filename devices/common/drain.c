/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* drain.c - dev_queue_drain() (drain.h). */
#include "drain.h"

#include "cvmm/vq/notify.h"

int dev_queue_drain(vq_queue *vq, dev_request_fn *fn, void *ctx)
{
    vq_chain c;
    int rc, served = 0;
    do {
        if ((rc = vq_disable_notification(vq)) < 0)
            return rc;
        while ((rc = vq_pop(vq, &c)) == 1) {
            uint32_t used;
            if ((rc = fn(ctx, vq, &c, &used)) < 0)
                return rc;
            if ((rc = vq_add_used(vq, c.head, used)) < 0)
                return rc;
            served++;
        }
        if (rc < 0)
            return rc;
    } while ((rc = vq_enable_notification(vq)) == 1);
    return rc < 0 ? rc : served;
}
