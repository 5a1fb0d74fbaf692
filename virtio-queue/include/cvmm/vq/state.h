/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/state.h - the ring position saved and restored by vhost-user GET/SET_VRING_BASE.
 *
 *  Split ring: the 16-bit next available index (the used index lives in guest memory and is read back
 *  when the queue starts).  Packed ring, as vhost-user encodes "vring descriptor indices":
 *  bits 0-14 next available descriptor, bit 15 driver (available) ring wrap counter, bits 16-30 next used
 *  descriptor, bit 31 device (used) ring wrap counter.  Threads: owner (see cvmm/vq/queue.h). */
#ifndef CVMM_VQ_STATE_H
#define CVMM_VQ_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vq_state - the device's ring position, decoded (transparent value). */
typedef struct vq_state {
    uint16_t next_avail; /* split: free-running avail index; packed: descriptor position < size */
    uint16_t next_used;  /* split: free-running used index; packed: descriptor position < size */
    bool avail_wrap;     /* packed only: driver ring wrap counter (starts at 1) */
    bool used_wrap;      /* packed only: device ring wrap counter (starts at 1) */
} vq_state;

/** vq_queue_get_state() / vq_queue_vring_base() - the current position, decoded or in the vhost-user
 *  encoding (the GET_VRING_BASE reply).  Threads: owner. */
void vq_queue_get_state(const vq_queue *q, vq_state *out);
uint32_t vq_queue_vring_base(const vq_queue *q);

/** vq_queue_set_state() - restore a position.  Split: next_avail is taken, next_used is read from guest
 *  memory when the queue starts.  Packed: positions must be < size, here and again when the queue starts
 *  (a later vq_queue_set_size() may shrink the ring under them: vq_queue_set_ready() then refuses).
 *  Return: 0; -EINVAL a packed position >= size; -EBUSY the queue is ready.  Threads: owner. */
int vq_queue_set_state(vq_queue *q, const vq_state *s);

/** vq_queue_set_vring_base() - SET_VRING_BASE: decode @num for the queue's layout and size, then restore.
 *  Packed: bits 16-31 all zero (front-ends that send only the avail half) mean used = avail.
 *  Return: 0; -EINVAL split: @num > 0xffff; packed: a position >= size; -EBUSY ready.  Threads: owner. */
int vq_queue_set_vring_base(vq_queue *q, uint32_t num);

#ifdef __cplusplus
}
#endif
#endif
