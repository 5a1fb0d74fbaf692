/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/queue.h - the device's handle on one of its queues.
 *
 *  A vub_queue lives as long as the daemon.  The functions here are for the device's worker ops
 *  (queue_started / queue_kicked / queue_stopped / queue_enabled) and the callbacks the device put on the
 *  worker's loop: they run on the queue's worker thread (`worker`).  While a queue is started its ring is
 *  ready and translated into the current guest memory map; the library re-translates it whenever the map
 *  changes, before the worker runs the next callback.
 *
 *  The typical kick handler:
 *      vq_queue *vq = vub_queue_vq(q);  vq_chain c;  int rc;
 *      do {
 *          vq_disable_notification(vq);
 *          while ((rc = vq_pop(vq, &c)) == 1) { ...walk, write...; vq_add_used(vq, c.head, n); }
 *      } while (rc >= 0 && vub_queue_drained(q) == 1);
 *      return vub_queue_notify(q);
 *  (vq_enable_notification() in place of vub_queue_drained() works too, without busy-polling.) */
#ifndef CVMM_VUB_QUEUE_H
#define CVMM_VUB_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vmem/map.h"
#include "cvmm/vq/queue.h"
#include "cvmm/vub/device.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;

/** vub_queue_vq() - the ring.  Ownership: borrowed, valid while the queue is started.  Threads: worker. */
vq_queue *vub_queue_vq(vub_queue *q);

/** vub_queue_index() - the vring index.  Threads: any. */
unsigned vub_queue_index(const vub_queue *q);

/** vub_queue_worker() - index of the worker that owns the queue.  Threads: any. */
unsigned vub_queue_worker(const vub_queue *q);

/** vub_queue_started() / vub_queue_enabled() - the two ring states of the spec ("Ring states").  A
 *  started but disabled queue is processed without side effects.  Threads: worker. */
bool vub_queue_started(const vub_queue *q);
bool vub_queue_enabled(const vub_queue *q);

/** vub_queue_map() - the guest memory map the queue uses now (for zero-copy I/O on descriptor buffers).
 *  Ownership: borrowed, valid until the worker's current callback returns.  Threads: worker. */
const vmem_map *vub_queue_map(const vub_queue *q);

/** vub_queue_loop() - the worker's libev loop, for the device's own watchers (tap fds, timers).  Watchers
 *  started on it run on the worker thread with the map already refreshed; stop them in queue_stopped().
 *  Threads: worker (a libev loop is not thread-safe). */
struct ev_loop *vub_queue_loop(const vub_queue *q);

/** vub_queue_notify() - signal the driver (call eventfd, or in-band BACKEND_VRING_CALL) if
 *  vq_needs_notify() says it wants it (notification suppression / event idx).
 *  Return: 1 signalled (also when the call eventfd's counter is full: the driver has a notification
 *  pending, logged once per fd; the write never blocks); 0 suppressed or nothing to signal with; -EIO the
 *  call fd write failed.  Threads: worker. */
int vub_queue_notify(vub_queue *q);

/** vub_queue_signal() - signal the driver unconditionally.  Return: as vub_queue_notify().  Threads: worker. */
int vub_queue_signal(vub_queue *q);

/** vub_queue_set_priv() / vub_queue_priv() - one pointer for the device (NULL initially, kept across
 *  stop/start and reset).  Threads: worker. */
void vub_queue_set_priv(vub_queue *q, void *priv);
void *vub_queue_priv(const vub_queue *q);

/** vub_queue_inflight() - this queue's region of the inflight I/O tracking buffer (GET/SET_INFLIGHT_FD,
 *  VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD, which a device opts into through info.protocol_features): the
 *  spec's QueueRegionSplit or QueueRegionPacked (by VIRTIO_F_RING_PACKED), shared with the front-end so
 *  that a restarted back-end can resubmit what was in flight.  With vub_device_info.track_inflight the
 *  library keeps it (cvmm/vq/inflight.h) and the device only reads it; otherwise the device updates it as
 *  the spec's "Inflight I/O tracking" section says.  The region is only given while it holds that layout for the ring
 *  as it is now (its queue_size and layout were fixed by GET/SET_INFLIGHT_FD; a later SET_VRING_NUM or
 *  SET_FEATURES may have made the ring larger or packed): every desc[head] with head < the ring's size lies
 *  inside *size bytes.  A ring that starts with a region too small for it is logged once.  The buffer is
 *  never a SIGBUS hazard: the one GET_INFLIGHT_FD creates is a memfd sealed against shrinking, and one that
 *  SET_INFLIGHT_FD brings is mapped by vm-memory (an unsealed file is watched by its fault guard: writes past
 *  a shrunk end land in private zero pages).
 *  Return: 0 (*region, *size filled); -ENOENT the front-end set no buffer for this queue; -ENOSPC the
 *  buffer's region is too small for the ring's current size and layout.
 *  Ownership: *region borrowed, valid until the current worker callback returns.  Threads: worker. */
int vub_queue_inflight(const vub_queue *q, void **region, size_t *size);

/** vub_queue_drained() - the device found @q's ring empty, with kicks off (vq_disable_notification()):
 *  busy-poll, then ask for kicks again.  Instead of sleeping until the driver kicks (a system call on each
 *  side and a wake-up per burst), the worker keeps kicks off and looks at the ring (vq_avail_ready()) for up
 *  to the queue's budget (vub_daemon_config.busy_poll_us, default VUB_BUSY_POLL_US_DEFAULT; Linux
 *  vhost-net's busyloop): for at most 50 us inside this call, then, for the rest of the budget, from the
 *  worker's loop between its other work, calling queue_kicked again when buffers come.  A control call or
 *  vub_queue_kick() for the worker cuts the part inside this call short.  The budget adapts: it doubles
 *  (up to the configured one) when polling found work and halves (down to a sixteenth of it) when it did
 *  not, so a driver that goes idle costs at most one budget of CPU and then nothing.  When the budget is
 *  spent it is vq_enable_notification(): kicks on, a fence, and one more look, so a buffer made available
 *  just as polling ends is seen or kicked, never lost.  Budget 0 (busy_poll_us < 0), a ring without kick
 *  fd (it is polled anyway) or a stopped queue: vq_enable_notification() at once.
 *  Return: 1 buffers are available (go on popping; kicks are still off); 0 the device may return: kicks are
 *  on and a kick will come, or the worker polls the ring and calls queue_kicked when buffers come; -EIO
 *  broken; -EPROTO not ready.  Threads: worker. */
int vub_queue_drained(vub_queue *q);

/** vub_queue_busy_poll_us() - @q's busy-poll budget now, in microseconds: between a sixteenth of the
 *  configured one and it (VUB_BUSY_POLL_ALWAYS with vub_daemon_config.poll); 0 off.  Threads: worker. */
unsigned vub_queue_busy_poll_us(const vub_queue *q);

/** vub_queue_kick() - schedule queue_kicked() on the queue's worker (e.g. after the device gained buffers
 *  of its own, or from another thread).  Return: 0.  Threads: any. */
int vub_queue_kick(vub_queue *q);

#ifdef __cplusplus
}
#endif
#endif
