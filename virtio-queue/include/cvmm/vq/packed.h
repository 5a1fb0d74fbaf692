/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/packed.h - packed virtqueue layout (virtio 1.x section 2.8) and its direct entry points.
 *
 *  Each side keeps a wrap counter that starts at 1.  A descriptor is available when its AVAIL bit equals
 *  the driver's counter and its USED bit does not; the device marks it used by setting both bits to its
 *  own counter, storing the flags (release) after id and len.  The vq_packed_* functions are the generic
 *  calls without the layout switch; on a split queue they return -EINVAL (false for
 *  vq_packed_needs_notify()).  Threads: owner (cvmm/vq/queue.h). */
#ifndef CVMM_VQ_PACKED_H
#define CVMM_VQ_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/compiler.h"
#include "cvmm/le.h"
#include "cvmm/vq/chain.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VQ_DESC_F_AVAIL (1u << 7)
#define VQ_DESC_F_USED (1u << 15)

/* Event suppression flags (pvirtq_event_suppress.flags). */
#define VQ_RING_EVENT_FLAGS_ENABLE 0u
#define VQ_RING_EVENT_FLAGS_DISABLE 1u
#define VQ_RING_EVENT_FLAGS_DESC 2u
#define VQ_RING_EVENT_WRAP_SHIFT 15u /* desc field: bits 0-14 offset, bit 15 wrap counter */

#define VQ_PACKED_DESC_ALIGN 16u
#define VQ_PACKED_EVENT_ALIGN 4u

/** A packed ring descriptor (virtio 2.8.13), as it lies in guest memory. */
struct vq_packed_desc {
    cvmm_le64 addr;  /* guest physical address of the buffer */
    cvmm_le32 len;   /* bytes (used: bytes written) */
    cvmm_le16 id;    /* buffer id */
    cvmm_le16 flags; /* VQ_DESC_F_* with the AVAIL and USED wrap bits */
};
/** A packed ring event suppression structure (virtio 2.8.14). */
struct vq_packed_event {
    cvmm_le16 desc;  /* off_wrap */
    cvmm_le16 flags; /* VQ_RING_EVENT_FLAGS_* */
};
CVMM_STATIC_ASSERT(sizeof(struct vq_packed_desc) == 16, "packed descriptor is 16 bytes");
CVMM_STATIC_ASSERT(sizeof(struct vq_packed_event) == 4, "event suppression is 4 bytes");

#define VQ_PACKED_DESC_FLAGS 14u /* offset of flags in a descriptor */

static inline uint64_t vq_packed_desc_bytes(uint32_t size) { return 16ull * size; }

/** Direct entry points; Return values as the generic calls, plus -EINVAL for a split queue. */
int vq_packed_pop(vq_queue *q, vq_chain *c);
int vq_packed_add_used(vq_queue *q, uint16_t id, uint32_t len);
int vq_packed_add_used_batch(vq_queue *q, const vq_used_elem *elems, unsigned n);
bool vq_packed_needs_notify(vq_queue *q);
int vq_packed_enable_notification(vq_queue *q);
int vq_packed_disable_notification(vq_queue *q);

#ifdef __cplusplus
}
#endif
#endif
