/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** aio.h - cvmm-blk's asynchronous I/O engine: one io_uring per queue, many requests in flight.
 *
 *  blk_aio_kick() pops what the ring holds while a slot is free (at most --queue-depth requests in flight),
 *  reads each chain once into the slot's snapshot, checks it (blk_request_begin()) and queues its I/O:
 *  IN / OUT as one readv / writev straight between the file and the snapshot's buffers (write-through: an
 *  fdatasync linked to the write), FLUSH as fdatasync with IOSQE_IO_DRAIN (it starts once every request
 *  this queue submitted before it has completed, and later ones wait for it); the rest is answered at once,
 *  and so is a lone IN / OUT on a file that cannot do non-blocking I/O (blk_disk.blocking: tmpfs).  All
 *  the batch goes to the kernel with one io_uring_enter, and what the kernel completed while submitting is
 *  answered in the same call.  blk_aio_complete() reaps every later completion (the ring signals an
 *  eventfd: blk_aio_event_fd()), answers the requests and publishes their used entries in one batch, in
 *  completion order (out of pop order).  The caller notifies the driver.

 *  Guest memory: an in-flight request holds a reference on every guest memory region its buffers lie in
 *  (vmem_region_ref()), so a SET_MEM_TABLE or REM_MEM_REG meanwhile never unmaps memory the kernel still
 *  reads or writes; its status byte and used entry are written through the map current at completion.
 *  Nothing here knows vhost-user: device.c drives it from the queue's worker (cvmm/vub/watch.h), the
 *  unit tests from a bare vq_queue.
 *
 *  Threads: owner of the queue, for every function (the engine is the queue's). */
#ifndef CVMM_DEVICES_BLK_AIO_H
#define CVMM_DEVICES_BLK_AIO_H

#include <stdbool.h>

#include "blk.h"
#include "cvmm/vmem/map.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Requests in flight per queue unless --queue-depth says otherwise. */
#define BLK_QUEUE_DEPTH_DEFAULT 128u

typedef struct blk_aio blk_aio;

/** blk_aio_probe() - whether this kernel lets us make an io_uring (a tiny ring made and closed).
 *  Return: 0; the -errno of io_uring_setup (-ENOSYS, -EPERM: kernel.io_uring_disabled, a seccomp filter).
 *  Threads: any. */
int blk_aio_probe(void);

/** blk_aio_new() - an engine for ring @index of @d with @depth requests in flight at most (1..32768;
 *  more than 16384 is taken as 16384).
 *  Return: 0; -EINVAL; -ENOMEM; the -errno of io_uring_setup / eventfd / io_uring_register (logged).
 *  Ownership: *out owned, blk_aio_free(); @d borrowed, must outlive it.  Threads: any. */
int blk_aio_new(blk_disk *d, unsigned index, unsigned depth, blk_aio **out);

/** blk_aio_free() - wait for what is still in flight (dropping it unanswered: with inflight tracking a
 *  reconnected back-end serves it again), then close the ring.  NULL is a no-op.  Threads: owner. */
void blk_aio_free(blk_aio *a);

/** blk_aio_event_fd() - the eventfd the ring signals when completions are ready (borrowed: watch it for
 *  reading, then call blk_aio_complete()).  Threads: any. */
int blk_aio_event_fd(const blk_aio *a);

/** blk_aio_inflight() - requests submitted and not completed yet.  Threads: owner. */
unsigned blk_aio_inflight(const blk_aio *a);

/** blk_aio_kick() - serve @vq (its map is @map): answer and publish what needs no I/O and what completed
 *  meanwhile, queue the I/O of the rest while slots are free, submit it all at once.  Notifications stay
 *  off while every slot is busy (the completions pick the ring up again), otherwise they are enabled with a
 *  re-check; when the completions it reaps after submitting free slots of a full engine, it goes on
 *  popping (nothing else would: that eventfd count was read, and kicks are off).  At most one ring's worth of chains per call: *more is set when that budget ran out (call
 *  again after other work).  Return: requests popped (>= 0); -EIO / -EPROTO from the ring.  Threads: owner. */
int blk_aio_kick(blk_aio *a, vq_queue *vq, const vmem_map *map, bool *more);

/** blk_aio_complete() - reap every completion (@wait: until nothing is in flight) and answer those
 *  requests; with @publish their used entries are added to @vq in one batch, otherwise they are kept
 *  (a disabled ring) until a later call with @publish or blk_aio_kick().  Return: requests completed by
 *  this call (>= 0); -EIO / -EPROTO the ring refused the used entries (the queue is broken or stopped).
 *  Threads: owner. */
int blk_aio_complete(blk_aio *a, vq_queue *vq, bool wait, bool publish);

/** blk_aio_wants_kick() - the last blk_aio_kick() stopped because every slot was busy and a completion
 *  freed one since: kick again.  Threads: owner. */
bool blk_aio_wants_kick(const blk_aio *a);

#ifdef __cplusplus
}
#endif
#endif
