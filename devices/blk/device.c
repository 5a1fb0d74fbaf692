/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* device.c - cvmm-blk's vhost-user device operations (device.h). */
#include "device.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvmm/vub/queue.h"
#include "cvmm/vub/serve.h"
#include "cvmm/vub/watch.h"
#include "state.h"

int blk_dev_init(blk_dev *b, unsigned num_queues, uint32_t max_queue_size)
{
    if (!b || num_queues == 0 || num_queues > VUB_MAX_QUEUES || max_queue_size == 0 || max_queue_size > VQ_MAX_SIZE)
        return -EINVAL;
    blk_disk_config(&b->disk, num_queues, &b->cfg);
    b->info = (vub_device_info){
        .name = "blk",
        .num_queues = num_queues,
        .max_queue_size = max_queue_size,
        .features = blk_disk_features(&b->disk, num_queues) | (1ull << BLK_F_CONFIG_WCE) | (1ull << VUB_F_VERSION_1) |
                    (1ull << VUB_F_RING_INDIRECT_DESC) | (1ull << VUB_F_RING_EVENT_IDX) | (1ull << VUB_F_RING_PACKED),
        .config_size = sizeof(b->cfg),
        .track_inflight = true, /* requests in flight at a crash are resubmitted on reconnect (README) */
    };
    if (!b->queue_depth)
        b->queue_depth = BLK_QUEUE_DEPTH_DEFAULT;
    atomic_init(&b->aio_warned, false);
    int rc;
    if (b->aio == BLK_AIO_IO_URING && (rc = blk_aio_probe()) < 0) {
        cvmm_logf(b->disk.log, CVMM_LOG_WARN, "blk: io_uring unavailable (%s): synchronous I/O", strerror(-rc));
        b->aio = BLK_AIO_SYNC;
    }
    return 0;
}

static int blk_get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    blk_dev *b = ctx;
    struct blk_config c = b->cfg;
    c.writeback = atomic_load_explicit(&b->disk.writethrough, memory_order_relaxed) ? 0 : 1; /* state.h */
    memcpy(buf, (const uint8_t *)&c + off, len); /* the library checked off + len <= config_size */
    return 0;
}

static int blk_dev_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    blk_dev *b = ctx;
    return blk_request(&b->disk, vub_queue_vq(q), s, used_len);
}

/* ---- io_uring: one engine per started queue (aio.h), its eventfd watched on the queue's worker ---- */

struct blk_queue {
    blk_aio *aio;
    vub_watch *watch;
};

/* Completions are ready: answer them (published unless the ring is disabled), take more requests if
 * every slot was busy, notify once. */
static void blk_completions(void *opaque, vub_queue *q, int fd, unsigned events)
{
    struct blk_queue *bq = opaque;
    (void)fd, (void)events;
    vq_queue *vq = vub_queue_vq(q);
    bool enabled = vub_queue_enabled(q), more = false;
    (void)blk_aio_complete(bq->aio, vq, false, enabled); /* a broken ring was logged by virtio-queue */
    if (enabled && blk_aio_wants_kick(bq->aio))
        (void)blk_aio_kick(bq->aio, vq, vub_queue_map(q), &more);
    if (more)
        (void)vub_queue_kick(q);
    if (enabled)
        (void)vub_queue_notify(q);
}

static int blk_queue_started(void *ctx, vub_queue *q)
{
    blk_dev *b = ctx;
    if (b->aio != BLK_AIO_IO_URING)
        return 0;
    struct blk_queue *bq = calloc(1, sizeof(*bq));
    uint32_t size = vq_queue_size(vub_queue_vq(q));
    int rc = bq ? blk_aio_new(&b->disk, vub_queue_index(q), b->queue_depth < size ? b->queue_depth : size, &bq->aio)
                : -ENOMEM;
    if (rc == 0)
        rc = vub_watch_new(q, blk_aio_event_fd(bq->aio), VUB_WATCH_READ, blk_completions, bq, &bq->watch);
    if (rc < 0) { /* served synchronously instead: the guest sees no difference */
        if (!atomic_exchange(&b->aio_warned, true))
            cvmm_logf(b->disk.log, CVMM_LOG_WARN, "blk: vq%u: no io_uring (%s): synchronous I/O", vub_queue_index(q),
                      strerror(-rc));
        if (bq)
            blk_aio_free(bq->aio);
        free(bq);
        bq = NULL;
    }
    vub_queue_set_priv(q, bq);
    return 0;
}

/* GET_VRING_BASE, reset, disconnect: every request in flight completes and is published before the ring
 * is given back, so nothing writes guest memory or the used ring after the front-end was answered. */
static int blk_queue_stopped(void *ctx, vub_queue *q)
{
    (void)ctx;
    struct blk_queue *bq = vub_queue_priv(q);
    if (!bq)
        return 0;
    int rc = blk_aio_complete(bq->aio, vub_queue_vq(q), true, true);
    (void)vub_queue_notify(q);
    vub_watch_free(bq->watch);
    blk_aio_free(bq->aio);
    free(bq);
    vub_queue_set_priv(q, NULL);
    return rc < 0 ? rc : 0;
}

static int blk_queue_kicked(void *ctx, vub_queue *q)
{
    struct blk_queue *bq = vub_queue_priv(q);
    if (!bq)
        return vub_queue_serve(q, blk_dev_request, ctx);
    if (!vub_queue_started(q) || !vub_queue_enabled(q))
        return 0; /* spec, "Ring states": a disabled ring is processed without side effects */
    bool more = false;
    int rc = blk_aio_kick(bq->aio, vub_queue_vq(q), vub_queue_map(q), &more);
    if (more)
        (void)vub_queue_kick(q);
    int nrc = vub_queue_notify(q);
    return rc < 0 ? rc : (nrc < 0 ? nrc : 0);
}

const vub_device_ops blk_dev_ops = {
    .get_config = blk_get_config,
    .set_config = blk_config_write,          /* the writeback byte (state.h) */
    .queue_started = blk_queue_started,      /* io_uring: the queue's engine */
    .queue_stopped = blk_queue_stopped,      /* io_uring: waits for what is in flight */
    .queue_kicked = blk_queue_kicked,        /* io_uring, or vub_queue_serve() with blk_request() */
    .queue_enabled = vub_queue_enabled_kick, /* requests (and completions) held while disabled */
    .state_save = blk_state_save,            /* cache mode and disk id (state.h) */
    .state_load = blk_state_load,
};
