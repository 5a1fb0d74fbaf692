/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* split.c - split virtqueue: pop, used ring, notification suppression (virtio 1.x 2.7). */
#include "internal.h"
#include "cvmm/vq/split.h"

/* Look ahead only with more than this many chains published and not popped: close behind the driver,
 * the lines read ahead may be ones its CPU is still writing (4 descriptors, 32 avail entries a line), and
 * taking them from it costs both sides; with a backlog they are settled (README "Prefetch on pop"). */
#define PREFETCH_BACKLOG 8u

/* How far ahead of the chain just popped the look-ahead warms a first buffer: a miss on a line the driver's
 * CPU wrote takes longer than the device spends on one 64-byte frame (~90 ns), so one chain ahead hid
 * only part of it (the sink's frame copy was still 97 % a miss on its first load). */
#define PREFETCH_AHEAD 2u

/* Entry @next + PREFETCH_AHEAD - 1 of the avail ring is available already (before the shadow index): warm
 * the first buffer of its chain (its header, or its indirect table) while the device works on the chains
 * before it, and the descriptor of the entry after it, which a later pop's look-ahead reads: a two-stage
 * pipeline, so that neither the descriptor nor the buffer (both written by the driver's CPU) is a miss
 * when used.  The entries and descriptor are read under the same acquire of avail->idx as the pop's; the
 * values are only hints (the pops read and check them again), so an out-of-range head is just skipped. */
static inline void prefetch_next(const vq_queue *q, uint16_t next)
{
    next = (uint16_t)(next + PREFETCH_AHEAD - 1u);
    uint16_t head = vmem_hva_load_relaxed_le16(q->driver + VQ_SPLIT_AVAIL_RING(next & q->mask));
    if (head < q->size) {
        struct vq__raw_desc d;
        vq__read_desc(q->desc + 16u * head, false, &d);
        vq__prefetch_buf(q, d.addr, d.len);
    }
    next = (uint16_t)(next + 1);
    if (next != q->shadow_avail) {
        head = vmem_hva_load_relaxed_le16(q->driver + VQ_SPLIT_AVAIL_RING(next & q->mask));
        if (head < q->size)
            __builtin_prefetch(q->desc + 16u * head, 0, 3);
    }
}

int vq__split_pop_raw(vq_queue *q, vq_chain *c)
{
    uint16_t next = q->next_avail;
    if (next == q->shadow_avail) {
        /* Acquire pairs with the driver's barrier before its avail->idx store: the ring entries below and
         * the descriptors they name are visible once we see the index. */
        uint16_t idx = vmem_hva_load_acquire_le16(q->driver + VQ_SPLIT_AVAIL_IDX);
        uint16_t ahead = (uint16_t)(idx - next);
        if (CVMM_UNLIKELY(ahead > q->size))
            return vq__fail(q, "avail idx %u is %u ahead of %u (size %u)", idx, ahead, next, q->size);
        q->shadow_avail = idx;
        if (ahead == 0)
            return 0;
    }
    uint16_t head = vmem_hva_load_relaxed_le16(q->driver + VQ_SPLIT_AVAIL_RING(next & q->mask));
    if (CVMM_UNLIKELY(head >= q->size))
        return vq__fail(q, "avail ring entry %u names head %u (size %u)", next, head, q->size);
    q->next_avail = (uint16_t)(next + 1);
    vq__split_chain_start(q, c, head);
    if ((uint16_t)(q->shadow_avail - next) > PREFETCH_BACKLOG + PREFETCH_AHEAD - 1u)
        prefetch_next(q, (uint16_t)(next + 1));
    return 1;
}

/* One used element, as one 8-byte copy: the driver reads it only after its acquire of used->idx, which the
 * release store of the index publishes (elements are data, not polled fields). */
static inline void put_used(vq_queue *q, uint16_t slot, uint16_t head, uint32_t len)
{
    uint64_t v = cvmm_cpu_to_le64((uint64_t)head | (uint64_t)len << 32);
    memcpy(q->device + VQ_SPLIT_USED_RING(slot), &v, sizeof(v));
}

int vq__split_add_used_raw(vq_queue *q, uint16_t head, uint32_t len)
{
    if (CVMM_UNLIKELY(head >= q->size))
        return -EINVAL;
    uint16_t u = q->next_used, slot = u & q->mask;
    put_used(q, slot, head, len);
    q->next_used = (uint16_t)(u + 1);
    /* Release pairs with the driver's read barrier after it loads used->idx: the element is visible
     * before the index that publishes it. */
    vmem_hva_store_release_le16(q->device + VQ_SPLIT_USED_IDX, q->next_used);
    if (CVMM_UNLIKELY(q->dlog != NULL)) {
        vq__mark(q, q->log_gpa + VQ_SPLIT_USED_RING(slot), sizeof(struct vq_split_used_elem));
        vq__mark(q, q->log_gpa + VQ_SPLIT_USED_IDX, 2);
    }
    return 0;
}

int vq__split_add_used_batch_raw(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (CVMM_UNLIKELY(e[i].head >= q->size))
            return -EINVAL;
    if (n == 0)
        return 0;
    uint16_t u = q->next_used;
    for (unsigned i = 0; i < n; i++)
        put_used(q, (uint16_t)(u + i) & q->mask, e[i].head, e[i].len);
    q->next_used = (uint16_t)(u + n);
    /* One release for the whole batch; pairs with the driver's read barrier after used->idx. */
    vmem_hva_store_release_le16(q->device + VQ_SPLIT_USED_IDX, q->next_used);
    if (CVMM_UNLIKELY(q->dlog != NULL)) {
        uint32_t first = u & q->mask;
        if (n >= q->size) {
            vq__mark(q, q->log_gpa + VQ_SPLIT_USED_RING(0), 8ull * q->size);
        } else if (first + n <= q->size) {
            vq__mark(q, q->log_gpa + VQ_SPLIT_USED_RING(first), 8ull * n);
        } else {
            vq__mark(q, q->log_gpa + VQ_SPLIT_USED_RING(first), 8ull * (q->size - first));
            vq__mark(q, q->log_gpa + VQ_SPLIT_USED_RING(0), 8ull * (first + n - q->size));
        }
        vq__mark(q, q->log_gpa + VQ_SPLIT_USED_IDX, 2);
    }
    return 0;
}

bool vq__split_needs_notify(vq_queue *q)
{
    /* Full fence between the used->idx store above and reading the driver's suppression state; pairs with
     * the driver's barrier between writing used_event (or clearing NO_INTERRUPT) and re-reading used->idx. */
    vmem_fence_seq_cst();
    if (!q->event_idx) {
        uint16_t flags = vmem_hva_load_relaxed_le16(q->driver + VQ_SPLIT_AVAIL_FLAGS);
        return !(flags & VQ_AVAIL_F_NO_INTERRUPT);
    }
    uint16_t event = vmem_hva_load_relaxed_le16(q->driver + VQ_SPLIT_USED_EVENT(q->size));
    uint16_t old = q->signalled_used, new_idx = q->next_used;
    bool valid = q->signalled_valid;
    q->signalled_used = new_idx;
    q->signalled_valid = true;
    if (!valid)
        return true;
    return vq_need_event(event, new_idx, old);
}

int vq__split_enable_notification(vq_queue *q)
{
    if (q->event_idx) {
        vmem_hva_store_relaxed_le16(q->device + VQ_SPLIT_AVAIL_EVENT(q->size), q->next_avail);
        vq__mark(q, q->log_gpa + VQ_SPLIT_AVAIL_EVENT(q->size), 2);
    } else {
        vmem_hva_store_relaxed_le16(q->device + VQ_SPLIT_USED_FLAGS, 0);
        vq__mark(q, q->log_gpa + VQ_SPLIT_USED_FLAGS, 2);
    }
    /* Full fence between publishing "kick me" and re-reading avail->idx; pairs with the driver's barrier
     * between its avail->idx store and reading used->flags / avail_event.  One of the two sides sees the
     * other's store, so a buffer added meanwhile is either seen here or kicked. */
    vmem_fence_seq_cst();
    uint16_t idx = vmem_hva_load_acquire_le16(q->driver + VQ_SPLIT_AVAIL_IDX);
    uint16_t ahead = (uint16_t)(idx - q->next_avail);
    if (CVMM_UNLIKELY(ahead > q->size))
        return vq__fail(q, "avail idx %u is %u ahead of %u (size %u)", idx, ahead, q->next_avail, q->size);
    q->shadow_avail = idx;
    return ahead != 0;
}

void vq__split_disable_notification(vq_queue *q)
{
    if (q->event_idx)
        return; /* avail_event stays where the last enable put it: the driver stops kicking past it */
    vmem_hva_store_relaxed_le16(q->device + VQ_SPLIT_USED_FLAGS, VQ_USED_F_NO_NOTIFY);
    vq__mark(q, q->log_gpa + VQ_SPLIT_USED_FLAGS, 2);
}

/* ---- direct entry points ---- */

int vq_split_pop(vq_queue *q, vq_chain *c)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_SPLIT))
        return vq__not_running(q, VQ__RUN_SPLIT);
    return vq__split_pop(q, c);
}

int vq_split_add_used(vq_queue *q, uint16_t head, uint32_t len)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_SPLIT))
        return vq__not_running(q, VQ__RUN_SPLIT);
    return vq__split_add_used(q, head, len);
}

int vq_split_add_used_batch(vq_queue *q, const vq_used_elem *elems, unsigned n)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_SPLIT))
        return vq__not_running(q, VQ__RUN_SPLIT);
    return vq__split_add_used_batch(q, elems, n);
}

bool vq_split_needs_notify(vq_queue *q) { return q->run == VQ__RUN_SPLIT && vq__split_needs_notify(q); }

int vq_split_enable_notification(vq_queue *q)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_SPLIT))
        return vq__not_running(q, VQ__RUN_SPLIT);
    return vq__split_enable_notification(q);
}

int vq_split_disable_notification(vq_queue *q)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_SPLIT))
        return vq__not_running(q, VQ__RUN_SPLIT);
    vq__split_disable_notification(q);
    return 0;
}
