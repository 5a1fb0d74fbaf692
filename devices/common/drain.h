/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* drain.h - serve every available request of a queue, the loop that the example devices share
 *  (cvmm-device-common).  Threads: the owner of the queue. */
#ifndef CVMM_DEVICES_DRAIN_H
#define CVMM_DEVICES_DRAIN_H

#include <stdint.h>

#include "cvmm/vq/chain.h"
#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** dev_request_fn - serve the chain @c just popped from @vq; *@used_len gets the bytes written into it.
 *  Return: 0 (the chain is then marked used); -errno stops dev_queue_drain(), which returns it. */
typedef int dev_request_fn(void *ctx, vq_queue *vq, const vq_chain *c, uint32_t *used_len);

/** dev_queue_drain() - pop every available chain of @vq, serve it with @fn and mark it used, with
 *  notifications off meanwhile; then turn them on again and go on if more chains came in the meantime.
 *  The caller notifies the driver.  Return: chains served (>= 0); -errno from vq_* or @fn (a broken queue:
 *  -EIO / -EPROTO). */
int dev_queue_drain(vq_queue *vq, dev_request_fn *fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
