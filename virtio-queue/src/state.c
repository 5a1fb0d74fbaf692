/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* state.c - vhost-user GET/SET_VRING_BASE encoding of the ring position. */
#include "internal.h"
#include "cvmm/vq/state.h"

void vq_queue_get_state(const vq_queue *q, vq_state *out)
{
    out->next_avail = q->next_avail;
    out->next_used = q->next_used;
    out->avail_wrap = q->layout == VQ_LAYOUT_PACKED ? q->avail_wrap : false;
    out->used_wrap = q->layout == VQ_LAYOUT_PACKED ? q->used_wrap : false;
}

uint32_t vq_queue_vring_base(const vq_queue *q)
{
    if (q->layout == VQ_LAYOUT_SPLIT)
        return q->next_avail;
    return (uint32_t)(q->next_avail & 0x7fffu) | (uint32_t)q->avail_wrap << 15 |
           (uint32_t)(q->next_used & 0x7fffu) << 16 | (uint32_t)q->used_wrap << 31;
}

int vq_queue_set_state(vq_queue *q, const vq_state *s)
{
    if (q->ready)
        return -EBUSY;
    if (q->layout == VQ_LAYOUT_PACKED && (s->next_avail >= q->size || s->next_used >= q->size)) {
        cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: ring position %u/%u outside size %u", q->index, s->next_avail,
                  s->next_used, q->size);
        return -EINVAL;
    }
    q->next_avail = q->shadow_avail = s->next_avail;
    if (q->layout == VQ_LAYOUT_PACKED) {
        q->next_used = s->next_used;
        q->avail_wrap = s->avail_wrap;
        q->used_wrap = s->used_wrap;
        vq__packed_sync_wrap(q);
        memset(q->inflight, 0, sizeof(q->inflight[0]) * q->max_size);
    }
    q->signalled_valid = false;
    return 0;
}

int vq_queue_set_vring_base(vq_queue *q, uint32_t num)
{
    vq_state s = {0};
    if (q->layout == VQ_LAYOUT_SPLIT) {
        if (num > 0xffffu) {
            cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: vring base 0x%x does not fit 16 bits", q->index, num);
            return -EINVAL;
        }
        s.next_avail = (uint16_t)num;
    } else {
        s.next_avail = (uint16_t)(num & 0x7fffu);
        s.avail_wrap = (num >> 15) & 1u;
        s.next_used = (uint16_t)((num >> 16) & 0x7fffu);
        s.used_wrap = (num >> 31) & 1u;
        /* The spec puts the used position in bits 16-31, but front-ends written to its older text (DPDK
         * 22.11 virtio-user, QEMU 7.2) send only the avail half and leave 16-31 zero; DPDK's and QEMU's
         * back-ends then take used = avail.  We do the same when bits 16-31 are zero: that is exact whenever
         * no buffer is in flight, which is when a ring is (re)started.  Reading 0 as "used position 0,
         * wrap 0" instead would write used descriptors with the wrong wrap and stall the ring.
         * Quirk VUB_QUIRK_PACKED_BASE_AVAIL_ONLY (cvmm/vub/quirks.h). */
        if ((num >> 16) == 0) {
            s.next_used = s.next_avail;
            s.used_wrap = s.avail_wrap;
        }
    }
    return vq_queue_set_state(q, &s);
}
