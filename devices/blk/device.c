/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* device.c - cvmm-blk's vhost-user device operations (device.h). */
#include "device.h"

#include <errno.h>
#include <string.h>

#include "cvmm/vub/queue.h"
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

const vub_device_ops blk_dev_ops = {
    .get_config = blk_get_config,
    .set_config = blk_config_write, /* the writeback byte (state.h) */
    .request = blk_dev_request,     /* the library serves the queues (cvmm/vub/serve.h) */
    .state_save = blk_state_save,   /* cache mode and disk id (state.h) */
    .state_load = blk_state_load,
};
