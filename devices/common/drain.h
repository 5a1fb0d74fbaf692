/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* drain.h - serve every available request of a queue, the loop that the example devices share
 *  (cvmm-device-common).  Threads: the owner of the queue. */
#ifndef CVMM_DEVICES_DRAIN_H
#define CVMM_DEVICES_DRAIN_H

#include <stdint.h>

#include "cvmm/vq/chain.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Descriptors one chain may have (QEMU's VIRTQUEUE_MAX_SIZE, Linux vhost's UIO_MAXIOV); longer chains
 *  are not served (dev_request_fn gets a NULL snapshot). */
#define DEV_CHAIN_DESCS_MAX 1024u

/** dev_request_fn - serve the chain just popped from @vq, read once into @s (cvmm/vq/snapshot.h: every
 *  length and buffer the handler uses comes from @s, never from guest memory again); *@used_len gets the
 *  bytes written into it.  @s is NULL when the chain has more than DEV_CHAIN_DESCS_MAX descriptors: the
 *  handler logs it its own way and sets *@used_len to 0 (the chain is returned unanswered).
 *  Return: 0 (the chain is then marked used); -errno stops dev_queue_drain(), which returns it.
 *  Ownership: @s and its entries are valid during the call only. */
typedef int dev_request_fn(void *ctx, vq_queue *vq, const vq_snapshot *s, uint32_t *used_len);

/** dev_queue_drain() - pop every available chain of @vq, snapshot it (on the stack: no allocation), serve
 *  it with @fn and mark it used, with notifications off meanwhile; then turn them on again and go on if
 *  more chains came in the meantime.  The caller notifies the driver.  Return: chains served (>= 0);
 *  -errno from vq_* or @fn (a broken queue: -EIO / -EPROTO). */
int dev_queue_drain(vq_queue *vq, dev_request_fn *fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
