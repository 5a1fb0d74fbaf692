/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/split.h - split virtqueue layout (virtio 1.x section 2.7) and its direct entry points.
 *
 *  The ring structures below are little-endian guest layouts.  The vq_split_* functions do what the
 *  generic ones of cvmm/vq/chain.h and cvmm/vq/notify.h do, without the layout switch, for a device that
 *  only speaks split rings; on a packed queue they return -EINVAL (false for vq_split_needs_notify()).
 *  Threads: owner (cvmm/vq/queue.h). */
#ifndef CVMM_VQ_SPLIT_H
#define CVMM_VQ_SPLIT_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/compiler.h"
#include "cvmm/le.h"
#include "cvmm/vq/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

/* avail->flags / used->flags */
#define VQ_AVAIL_F_NO_INTERRUPT 1u
#define VQ_USED_F_NO_NOTIFY 1u

/** Alignment of the descriptor table, available ring and used ring. */
#define VQ_SPLIT_DESC_ALIGN 16u
#define VQ_SPLIT_AVAIL_ALIGN 2u
#define VQ_SPLIT_USED_ALIGN 4u

/** A split ring descriptor (virtio 2.7.5), as it lies in guest memory. */
struct vq_split_desc {
    cvmm_le64 addr;  /* guest physical address of the buffer */
    cvmm_le32 len;   /* bytes */
    cvmm_le16 flags; /* VQ_DESC_F_NEXT, VQ_DESC_F_WRITE, VQ_DESC_F_INDIRECT */
    cvmm_le16 next;  /* index of the next descriptor with VQ_DESC_F_NEXT */
};
/** A used ring element (virtio 2.7.8). */
struct vq_split_used_elem {
    cvmm_le32 id;  /* head index of the used chain */
    cvmm_le32 len; /* bytes written into its writable buffers */
};
CVMM_STATIC_ASSERT(sizeof(struct vq_split_desc) == 16, "split descriptor is 16 bytes");
CVMM_STATIC_ASSERT(sizeof(struct vq_split_used_elem) == 8, "used element is 8 bytes");

/** Byte sizes and offsets of the rings for @size entries (with the event-idx fields). */
static inline uint64_t vq_split_desc_bytes(uint32_t size) { return 16ull * size; }
static inline uint64_t vq_split_avail_bytes(uint32_t size) { return 6ull + 2ull * size; }
static inline uint64_t vq_split_used_bytes(uint32_t size) { return 6ull + 8ull * size; }
#define VQ_SPLIT_AVAIL_FLAGS 0u                                /* le16 flags */
#define VQ_SPLIT_AVAIL_IDX 2u                                  /* le16 idx */
#define VQ_SPLIT_AVAIL_RING(i) (4u + 2u * (uint32_t)(i))       /* le16 ring[size] */
#define VQ_SPLIT_USED_EVENT(size) (4u + 2u * (uint32_t)(size)) /* le16 used_event */
#define VQ_SPLIT_USED_FLAGS 0u
#define VQ_SPLIT_USED_IDX 2u
#define VQ_SPLIT_USED_RING(i) (4u + 8u * (uint32_t)(i))         /* vq_split_used_elem ring[size] */
#define VQ_SPLIT_AVAIL_EVENT(size) (4u + 8u * (uint32_t)(size)) /* le16 avail_event */

/** vring_need_event() of the spec: should an index move from @old to @new_idx signal @event? 16-bit wrap. */
static inline bool vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

/** Direct entry points; Return values as the generic calls, plus -EINVAL for a packed queue. */
int vq_split_pop(vq_queue *q, vq_chain *c);
int vq_split_add_used(vq_queue *q, uint16_t head, uint32_t len);
int vq_split_add_used_batch(vq_queue *q, const vq_used_elem *elems, unsigned n);
bool vq_split_needs_notify(vq_queue *q);
int vq_split_enable_notification(vq_queue *q);
int vq_split_disable_notification(vq_queue *q);

#ifdef __cplusplus
}
#endif
#endif
