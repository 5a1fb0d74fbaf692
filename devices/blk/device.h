/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** device.h - cvmm-blk as a vhost-user device: the vub_device_ops table and the static facts around a
 *  blk_disk (blk.h).  main.c hands them to vub_daemon_new(); tests/devices/blk_vhost_user.c does the same
 *  with our front-end endpoint.  Threads: as cvmm/vub/device.h says for each op. */
#ifndef CVMM_DEVICES_BLK_DEVICE_H
#define CVMM_DEVICES_BLK_DEVICE_H

#include "blk.h"
#include "cvmm/vub/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/** blk_dev - the device context (the ops' @ctx). */
typedef struct blk_dev {
    blk_disk disk;         /* opened by the caller (blk_disk_open()) */
    struct blk_config cfg; /* filled by blk_dev_init() */
    vub_device_info info;  /* filled by blk_dev_init() */
} blk_dev;

/** blk_dev_init() - fill @b->cfg and @b->info for @num_queues queues of at most @max_queue_size entries,
 *  from the opened @b->disk.  Return: 0; -EINVAL num_queues 0 or > VUB_MAX_QUEUES, max_queue_size 0 or
 *  > 32768.  Threads: any. */
int blk_dev_init(blk_dev *b, unsigned num_queues, uint32_t max_queue_size);

/** The operations: get_config and set_config (only the writeback byte is writable, VIRTIO_BLK_F_CONFIG_WCE),
 *  request (one request, blk_request(); the library pops, snapshots, publishes, notifies and leaves disabled
 *  rings alone, cvmm/vub/serve.h), and state_save / state_load (cache mode and disk id, state.h). */
extern const vub_device_ops blk_dev_ops;

#ifdef __cplusplus
}
#endif
#endif
