/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** rng.h - cvmm-rng's one request: fill the writable buffers of a virtio-rng request from getrandom(). */
#ifndef CVMM_DEVICES_RNG_H
#define CVMM_DEVICES_RNG_H
#include "cvmm/vub/serve.h"

/** Bytes given per request at most (the spec lets the device use less than the whole buffer). */
#define RNG_CHAIN_MAX 65536u

/** rng_request() - a vub_request_fn (@ctx, @q unused): up to RNG_CHAIN_MAX random bytes into the writable
 *  part of @s (readable buffers are ignored).  Return: 0; -EIO / -EPROTO the ring broke or stopped. */
int rng_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len);
#endif
