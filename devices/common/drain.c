/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* drain.c - dev_queue_drain() (drain.h). */
#include "drain.h"

#include <errno.h>

#include "cvmm/vq/notify.h"

int dev_queue_drain(vq_queue *vq, dev_request_fn *fn, void *ctx)
{
    vq_chain c;
    vq_desc_info desc[DEV_CHAIN_DESCS_MAX]; /* 24 KiB of stack: the hot path never allocates */
    vq_snapshot s;
    int rc, served = 0;
    do {
        if ((rc = vq_disable_notification(vq)) < 0)
            return rc;
        while ((rc = vq_pop(vq, &c)) == 1) {
            uint32_t used = 0;
            rc = vq_snapshot_take(vq, &c, desc, DEV_CHAIN_DESCS_MAX, &s);
            if (rc < 0 && rc != -ENOSPC)
                return rc;
            if ((rc = fn(ctx, vq, rc == 0 ? &s : NULL, &used)) < 0)
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
