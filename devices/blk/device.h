/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** device.h - cvmm-blk as a vhost-user device: the vub_device_ops table and the static facts around a
 *  blk_disk (blk.h).  main.c hands them to vub_daemon_new(); tests/devices/blk_vhost_user.c does the same
 *  with our front-end endpoint.  Threads: as cvmm/vub/device.h says for each op. */
#ifndef CVMM_DEVICES_BLK_DEVICE_H
#define CVMM_DEVICES_BLK_DEVICE_H

#include <stdatomic.h>

#include "aio.h"
#include "blk.h"
#include "cvmm/vub/device.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How requests are served (--aio). */
enum blk_aio_mode {
    BLK_AIO_IO_URING = 0, /* one io_uring per queue, up to queue_depth requests in flight (aio.h) */
    BLK_AIO_SYNC = 1,     /* one request at a time, preadv/pwritev on the queue's worker (blk_request()) */
};

/** blk_dev - the device context (the ops' @ctx). */
typedef struct blk_dev {
    blk_disk disk;          /* opened by the caller (blk_disk_open()) */
    enum blk_aio_mode aio;  /* set by the caller before blk_dev_init() (0: io_uring) */
    unsigned queue_depth;   /* io_uring: requests in flight per queue, at most the ring's size (0: default) */
    struct blk_config cfg;  /* filled by blk_dev_init() */
    vub_device_info info;   /* filled by blk_dev_init() */
    atomic_bool aio_warned; /* a queue could not make its io_uring (logged once; it serves synchronously) */
} blk_dev;

/** blk_dev_init() - fill @b->cfg and @b->info for @num_queues queues of at most @max_queue_size entries,
 *  from the opened @b->disk.  With BLK_AIO_IO_URING it checks that the kernel lets us make an io_uring:
 *  if not (ENOSYS, EPERM: kernel.io_uring_disabled, a seccomp filter) it logs one line and serves
 *  synchronously (@b->aio becomes BLK_AIO_SYNC).  Each queue makes its io_uring when it starts (in its
 *  worker) and closes it when it stops, after waiting for what is in flight.
 *  Return: 0; -EINVAL num_queues 0 or > VUB_MAX_QUEUES, max_queue_size 0 or > 32768.  Threads: any. */
int blk_dev_init(blk_dev *b, unsigned num_queues, uint32_t max_queue_size);

/** The operations: get_config and set_config (only the writeback byte is writable, VIRTIO_BLK_F_CONFIG_WCE),
 *  the queue ops (sync: each request served by blk_request() through vub_queue_serve(), cvmm/vub/serve.h;
 *  io_uring: queue_started makes the queue's engine (aio.h) and watches its eventfd, queue_kicked submits,
 *  the watch completes, queue_stopped waits for every request in flight and publishes it before the ring
 *  is given back; a disabled ring's completions are published when it is enabled or stopped), and
 *  state_save / state_load (cache mode and disk id, state.h). */
extern const vub_device_ops blk_dev_ops;

#ifdef __cplusplus
}
#endif
#endif
