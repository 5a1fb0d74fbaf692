/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/serve.h - serving a queue request by request, so that a device writes only "handle one request".
 *
 *  vub_queue_serve() is the whole kick handler of a request/response device (blk, rng, ...):
 *    - the ring states of the spec: a queue that is not started, or started but disabled, is left alone
 *      (no side effects); vub_queue_enabled_kick(), used as the queue_enabled op, kicks the queue when it is
 *      enabled again so that requests that came meanwhile are served;
 *    - notification suppression with re-check: kicks are off while the queue is drained, and turned on
 *      again followed by one more look (vq_enable_notification()), so no request is left behind; before
 *      that the drained ring is busy-polled for a while (vub_queue_drained(), cvmm/vub/queue.h);
 *    - each chain is read once into a snapshot (cvmm/vq/snapshot.h) before the device sees it, so a guest
 *      that rewrites descriptors cannot change what the device validated;
 *    - chains are taken in groups of up to VUB_SERVE_GROUP: popped and read, the first buffer of each
 *      prefetched, then served one after the other in ring order (so the cache misses on buffers the
 *      driver's CPU just wrote overlap); used buffers keep ring order (VIRTIO_F_IN_ORDER holds);
 *    - used buffers are published in batches (one release store per batch) and the driver is notified
 *      once, at the end, if it asked for it (event idx / NO_INTERRUPT), also when serving failed after
 *      some chains were used;
 *    - at most one ring's worth (the ring's size, or the budget given to vub_queue_serve_budget()) of
 *      chains per call: a guest that keeps its ring full cannot hold the worker (its other rings, the
 *      control thread's ring messages) for ever.  When that budget runs out the queue is kicked again
 *      (vub_queue_kick()) with notifications still off, and the worker serves the rest after its other
 *      pending work;
 *    - a chain of more than VUB_SERVE_DESCS_MAX descriptors is used with length 0 without reaching the
 *      device, logged once per queue start (a guest cannot flood the log).
 *    - with vub_device_info.track_inflight, the requests in flight when the back-end died are served first,
 *      oldest first, when their ring starts again (vq_pop() gives them out, cvmm/vq/inflight.h); used
 *      buffers are cleared from the inflight region once published.
 *  A device that sets vub_device_ops.request and leaves queue_kicked NULL gets exactly this from the
 *  daemon without writing a kick handler.
 *  Threads: worker (the queue's), like every vub_queue function. */
#ifndef CVMM_VUB_SERVE_H
#define CVMM_VUB_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vq/snapshot.h"
#include "cvmm/vub/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Descriptors one chain may have when served by vub_queue_serve() (QEMU's VIRTQUEUE_MAX_SIZE, Linux
 *  vhost's UIO_MAXIOV).  A longer chain is given back used with length 0 and a log line. */
#define VUB_SERVE_DESCS_MAX 1024u
/** Used buffers vub_queue_serve() publishes with one release store. */
#define VUB_SERVE_BATCH 64u
/** Chains vub_queue_serve() pops and reads before it serves the first of them. */
#define VUB_SERVE_GROUP 4u

/** vub_request_fn - serve one request: the chain @s, read once and validated (every buffer and length the
 *  handler uses comes from @s, never from guest memory again: use vq_reader_init()/vq_writer_init() on
 *  it).  *@used_len gets the bytes written into the chain's writable buffers.
 *  Return: 0 (the chain is used with *@used_len); -errno stops serving (the chain is used with *@used_len
 *  first; the chains of its group, popped already, are still given to @fn and used, at most
 *  VUB_SERVE_GROUP - 1 of them; the queue is notified and kicked again (vub_queue_kick(): kicks are off, so
 *  the rest of the ring is served on the worker's next turn, as after the budget), and vub_queue_serve()
 *  returns the first error, which the daemon logs).  A chain reaches @fn once and is used once, whatever
 *  @fn returns, unless the ring breaks: a chain that breaks it (a rule of cvmm/vq/chain.h) stops serving
 *  at once, and nothing can be used on a broken ring, so the chains popped before it and not published
 *  yet are never used (they may have reached @fn); the chains of its group that were not served yet do
 *  not reach @fn.
 *  Ownership: @s and its entries are valid during the call only.  Threads: worker. */
typedef int vub_request_fn(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len);

/** vub_queue_serve() - serve the available requests of @q with @fn (at most the ring's size; the rest after a
 *  vub_queue_kick()), as the header says.
 *  Return: requests served (>= 0); -EIO the ring is broken (logged by virtio-queue); -EPROTO the ring
 *  stopped; the error @fn returned.  Threads: worker. */
int vub_queue_serve(vub_queue *q, vub_request_fn *fn, void *ctx);

/** vub_queue_serve_budget() - vub_queue_serve() with at most @budget chains per call (0: the ring's size),
 *  for a device that wants its queues to take turns more often (cvmm-net's --budget).  The same loop can be
 *  compiled into the caller, @fn inlined: vub_queue_serve_inline() (cvmm/vub/serve_inline.h).
 *  Return: as vub_queue_serve().  Threads: worker. */
int vub_queue_serve_budget(vub_queue *q, vub_request_fn *fn, void *ctx, uint32_t budget);

/** vub_queue_enabled_kick() - a ready-made queue_enabled op for devices served from queue_kicked: a
 *  started queue that is enabled is kicked (vub_queue_kick()).  Return: 0.  Threads: as the op. */
int vub_queue_enabled_kick(void *ctx, vub_queue *q, bool enabled);

#ifdef __cplusplus
}
#endif
#endif
