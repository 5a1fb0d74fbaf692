/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/watch.h - a device's own fd (a tap, a socket) watched on a queue's worker, without libev types.
 *
 *  A watch calls @fn on the worker thread of the queue it was made for whenever the fd is readable and/or
 *  writable, with guest memory already refreshed (as for the queue ops).  A typical net device makes the
 *  watch of its tap in queue_started(), pauses it (events 0) while it has no receive buffers, and frees it
 *  in queue_stopped().
 *  Threads: worker of the queue, for every function here (the worker's loop is not thread-safe). */
#ifndef CVMM_VUB_WATCH_H
#define CVMM_VUB_WATCH_H

#include "cvmm/vub/device.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VUB_WATCH_READ 1u  /* the fd is readable (or hung up) */
#define VUB_WATCH_WRITE 2u /* the fd is writable */

typedef struct vub_watch vub_watch;

/** vub_watch_fn - @fd of @q is ready for @events (VUB_WATCH_*).  May call vub_watch_set() or
 *  vub_watch_free() on its own watch.  Threads: worker of @q. */
typedef void vub_watch_fn(void *opaque, vub_queue *q, int fd, unsigned events);

/** vub_watch_new() - watch @fd for @events (0: made paused) on @q's worker.
 *  Return: 0; -EINVAL bad argument (fd < 0, unknown event bits, NULL fn/out); -ENOMEM.
 *  Ownership: @fd borrowed (the device closes it after vub_watch_free()); *out owned, free with
 *  vub_watch_free().  Threads: worker of @q. */
int vub_watch_new(vub_queue *q, int fd, unsigned events, vub_watch_fn *fn, void *opaque, vub_watch **out);

/** vub_watch_set() - watch for @events from now on (0 pauses the watch).  Return: 0; -EINVAL.
 *  Threads: worker of the watch's queue. */
int vub_watch_set(vub_watch *w, unsigned events);

/** vub_watch_events() - what the watch waits for now.  Threads: worker. */
unsigned vub_watch_events(const vub_watch *w);

/** vub_watch_free() - stop and free.  NULL is a no-op.  Threads: worker of the watch's queue. */
void vub_watch_free(vub_watch *w);

#ifdef __cplusplus
}
#endif
#endif
