/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The device's handle on a queue (cvmm/vub/queue.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vq/notify.h"
#include "internal.h"

vq_queue *vub_queue_vq(vub_queue *q) { return q->vq; }
unsigned vub_queue_index(const vub_queue *q) { return q->index; }
unsigned vub_queue_worker(const vub_queue *q) { return q->w->index; }
bool vub_queue_started(const vub_queue *q) { return q->started; }
bool vub_queue_enabled(const vub_queue *q) { return q->enabled; }
const vmem_map *vub_queue_map(const vub_queue *q) { return q->w->map; }
struct ev_loop *vub_queue_loop(const vub_queue *q) { return q->w->loop; }
void vub_queue_set_priv(vub_queue *q, void *priv) { q->priv = priv; }
void *vub_queue_priv(const vub_queue *q) { return q->priv; }

int vub__queue_signal_fd(vub_queue *q, int fd, const char *what)
{
    uint64_t one = 1;
    for (;;) {
        if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
            return 1;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN) { /* counter at 2^64 - 2: the peer has a notification pending anyway */
            if (!q->full_logged)
                cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: %s eventfd is full, counted as signalled", q->d->name,
                          q->index, what);
            q->full_logged = true;
            return 1;
        }
        cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: %s eventfd write failed: %s", q->d->name, q->index, what,
                  strerror(errno));
        return -EIO;
    }
}

int vub_queue_signal(vub_queue *q)
{
    /* The call fd is a non-blocking eventfd (fdcheck.c): a full counter never blocks the worker. */
    if (q->call_fd >= 0)
        return vub__queue_signal_fd(q, q->call_fd, "call");
    int rc = vub__backend_vring_call(&q->d->backend, q->index);
    return rc == 0 ? 1 : 0;
}

int vub_queue_notify(vub_queue *q)
{
    if (!q->started || !vq_needs_notify(q->vq))
        return 0;
    return vub_queue_signal(q);
}

/* Does this queue's region of the inflight buffer hold the spec's layout for the ring as it is now?  It
 * was sized by GET/SET_INFLIGHT_FD's queue_size and the features of that moment; SET_VRING_NUM and
 * SET_FEATURES may have changed the ring since. */
bool vub__inflight_fits(const vub_queue *q)
{
    bool packed = vq_queue_layout(q->vq) == VQ_LAYOUT_PACKED;
    return vub__inflight_queue_bytes(packed, vq_queue_size(q->vq)) <= q->inflight_size;
}

int vub_queue_inflight(const vub_queue *q, void **region, size_t *size)
{
    if (!q->inflight)
        return -ENOENT;
    if (!vub__inflight_fits(q))
        return -ENOSPC;
    *region = q->inflight;
    *size = q->inflight_size;
    return 0;
}

int vub_queue_kick(vub_queue *q)
{
    atomic_store_explicit(&q->kick_pending, true, memory_order_release);
    vub__worker_wake(q->w);
    return 0;
}
