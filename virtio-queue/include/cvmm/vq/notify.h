/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/notify.h - notification suppression, both directions, both layouts.
 *
 *  Used buffer notifications (device -> driver): after vq_add_used(), vq_needs_notify() puts a seq_cst
 *  fence between the published used entries and its read of the driver's suppression state (its partner is
 *  the driver's barrier between re-enabling interrupts and re-reading the used ring), then applies
 *    - split without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT in avail->flags;
 *    - split with EVENT_IDX: vring_need_event(used_event, new, old) with 16-bit wrap;
 *    - packed: driver event suppression ENABLE / DISABLE / DESC (off, wrap), the last one only with
 *      EVENT_IDX (otherwise, and for the reserved value 3, the device notifies).
 *  Available buffer notifications (driver -> device): vq_disable_notification() asks the driver not to
 *  kick (VRING_USED_F_NO_NOTIFY, or nothing with EVENT_IDX whose avail_event then stays behind; packed:
 *  DISABLE); vq_enable_notification() asks for kicks again (clears the flag, writes avail_event = next
 *  avail index, or packed ENABLE / DESC at the next available descriptor), puts a seq_cst fence, and checks
 *  the ring again, so a buffer added while kicks were off is never lost.  The device loop is:
 *      do { vq_disable_notification(q); while (vq_pop(q, &c) == 1) ...; } while (vq_enable_notification(q) == 1);
 *  With EVENT_IDX the driver only kicks when its index passes the one the last vq_enable_notification()
 *  wrote, so a device must keep processing until vq_enable_notification() returns 0.
 *  Threads: owner (cvmm/vq/queue.h). */
#ifndef CVMM_VQ_NOTIFY_H
#define CVMM_VQ_NOTIFY_H

#include <stdbool.h>

#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vq_needs_notify() - should the device signal the driver (call fd) for the used entries published since
 *  the previous true answer?  The first call after the queue starts answers true.
 *  Return: true notify; false suppressed, or the queue is not running (broken, not ready).
 *  Threads: owner. */
bool vq_needs_notify(vq_queue *q);

/** vq_enable_notification() - ask for kicks again, then re-check.
 *  Return: 1 buffers are available (keep processing); 0 the ring is empty and a kick will come;
 *  -EIO broken (the avail index jumped); -EPROTO not ready.  Threads: owner. */
int vq_enable_notification(vq_queue *q);

/** vq_disable_notification() - ask the driver not to kick while the device is polling.
 *  Return: 0; -EIO broken; -EPROTO not ready.  Threads: owner. */
int vq_disable_notification(vq_queue *q);

/** vq_avail_ready() - would vq_pop() give a chain now?  A look at the driver's index (split) or next
 *  descriptor (packed) with acquire, without popping or touching notifications: the test a polling device
 *  repeats while kicks are off (cvmm/vub/queue.h's busy-poll).  A ring violation (an index too far ahead)
 *  answers true: the pop that follows reports it.
 *  Return: true buffers are available (or recovered inflight chains); false the ring is empty, or the
 *  queue is not running.  Threads: owner. */
bool vq_avail_ready(vq_queue *q);

#ifdef __cplusplus
}
#endif
#endif
