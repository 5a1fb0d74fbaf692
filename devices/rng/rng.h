/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** rng.h - cvmm-rng's device logic: fill each device-writable buffer of a virtio-rng request with bytes
 *  from getrandom() and return it as used with the byte count.  Linked into the cvmm-rng program and its
 *  unit test (tests/devices/rng_requests.c).  Threads: owner of the queue. */
#ifndef CVMM_DEVICES_RNG_H
#define CVMM_DEVICES_RNG_H

#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/queue.h"
#include "cvmm/vq/snapshot.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes given per request at most (the spec lets the device use less than the whole buffer). */
#define RNG_CHAIN_MAX 65536u

/** rng_request() - fill the writable part of the chain read once into @s (up to RNG_CHAIN_MAX bytes) with
 *  random bytes, zero-copy.  Device-readable buffers are ignored.  *used_len gets the bytes written.
 *  Return: 0; -EIO / -EPROTO the queue is broken or stopped; -errno getrandom() failed (nothing written).
 *  Threads: owner of the snapshot's queue. */
int rng_request(const vq_snapshot *s, uint32_t *used_len);

/** rng_queue_process() - serve every available request, notifications off meanwhile, until
 *  vq_enable_notification() says the ring is empty.  The caller then notifies the driver.
 *  Return: requests served (>= 0); a negative rng_request() or ring error.  Threads: owner of @vq. */
int rng_queue_process(vq_queue *vq, const struct cvmm_log *log);

#ifdef __cplusplus
}
#endif
#endif
