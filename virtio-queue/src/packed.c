/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* packed.c - packed virtqueue: pop, used descriptors, event suppression (virtio 1.x 2.8). */
#include "internal.h"
#include "cvmm/vq/packed.h"

static inline uint8_t *desc_at(const vq_queue *q, uint32_t pos) { return q->desc + 16u * pos; }

/* The descriptor at @pos is available already: warm its buffer (the next frame's header, or its indirect
 * table) while the device works on the chain just popped.  Acquire as in the pop, so the descriptor read
 * is ordered after the flags that publish it; the values are only hints (its pop reads them again). */
static inline void prefetch_next(const vq_queue *q, uint32_t pos)
{
    uint16_t f = vmem_hva_load_acquire_le16(desc_at(q, pos) + VQ_PACKED_DESC_FLAGS);
    if (vq__packed_is_avail(q, f)) {
        struct vq__raw_desc d;
        vq__read_desc(desc_at(q, pos), true, &d);
        vq__prefetch_buf(q, d.addr, d.len);
    }
}

/* A list that reaches into descriptors the device has not returned yet (the driver made them available a
 * second time): the used writes of the two lists would overlap and the positions lose their meaning. */
static __attribute__((noinline, cold)) int overrun(vq_queue *q, uint32_t pos, uint32_t n)
{
    return vq__fail(q, "descriptor list at %u (%u descriptors) overruns the %u descriptors still in use (size %u)", pos,
                    n, vq__packed_outstanding(q), q->size);
}

int vq__packed_pop_raw(vq_queue *q, vq_chain *c)
{
    uint32_t pos = q->next_avail, size = q->size;
    /* Acquire pairs with the driver's barrier before it stores the first descriptor's flags: the whole list
     * (written before that store) is visible once the flags say "available". */
    uint16_t f = vmem_hva_load_acquire_le16(desc_at(q, pos) + VQ_PACKED_DESC_FLAGS);
    if (!vq__packed_is_avail(q, f))
        return 0;
    if (CVMM_LIKELY(!(f & VQ_DESC_F_NEXT))) {
        /* A list of one descriptor (the common case): read it now, its cache line is hot. */
        uint8_t b[14];
        memcpy(b, desc_at(q, pos), sizeof(b));
        uint64_t addr;
        uint32_t len;
        uint16_t id;
        memcpy(&addr, b, 8);
        memcpy(&len, b + 8, 4);
        memcpy(&id, b + 12, 2);
        id = cvmm_le16_to_cpu(id);
        if (CVMM_UNLIKELY(id >= size))
            return vq__fail(q, "descriptor at %u has buffer id %u (size %u)", pos, id, size);
        uint16_t *slot = &q->inflight[id];
        if (CVMM_UNLIKELY(*slot != 0))
            return vq__fail(q, "buffer id %u made available again while in use", id);
        if (CVMM_UNLIKELY(vq__packed_outstanding(q) >= size))
            return overrun(q, pos, 1);
        if (++pos == size) {
            pos = 0;
            q->avail_wrap = !q->avail_wrap;
            vq__packed_sync_wrap(q);
        }
        *slot = VQ__INFLIGHT;
        q->next_avail = (uint16_t)pos;
        /* Look ahead only within the line just read: a line further on may be the one the driver's CPU is
         * writing now (close behind it), and reading it early takes it from that CPU and stalls this one
         * (39 % of the pop in an rx profile; README "Prefetch on pop"); the next pop reads it anyway. */
        if ((uintptr_t)desc_at(q, pos) & 63u)
            prefetch_next(q, pos);
        c->head = id;
        c->ndesc = 1;
        c->priv.one_addr = cvmm_le64_to_cpu(addr);
        c->priv.one_len = cvmm_le32_to_cpu(len);
        c->priv.one_flags = f;
        c->priv.total = 0;
        c->priv.mode = VQ__WALK_PACKED_ONE;
        c->priv.writing = false;
        return 1;
    }
    const uint8_t *first = q->desc, *end = q->desc + 16u * size, *p = desc_at(q, pos);
    uint32_t n = 1;
    /* Find the list's end: the buffer id sits in its last descriptor.  Four at a time while they all
     * continue and neither the ring's end nor the size limit is near. */
    while ((f & VQ_DESC_F_NEXT) && end - p > 4 * 16 && n + 4 < size) {
        uint16_t f1 = vmem_hva_load_relaxed_le16(p + 16 + VQ_PACKED_DESC_FLAGS);
        uint16_t f2 = vmem_hva_load_relaxed_le16(p + 32 + VQ_PACKED_DESC_FLAGS);
        uint16_t f3 = vmem_hva_load_relaxed_le16(p + 48 + VQ_PACKED_DESC_FLAGS);
        uint16_t f4 = vmem_hva_load_relaxed_le16(p + 64 + VQ_PACKED_DESC_FLAGS);
        if (!(f1 & f2 & f3 & f4 & VQ_DESC_F_NEXT)) { /* the end is among them: the first without NEXT */
            unsigned k = !(f1 & VQ_DESC_F_NEXT) ? 1 : !(f2 & VQ_DESC_F_NEXT) ? 2 : !(f3 & VQ_DESC_F_NEXT) ? 3 : 4;
            p += 16 * k;
            n += k;
            f = 0;
            break;
        }
        p += 64;
        n += 4;
        f = f4;
    }
    while (f & VQ_DESC_F_NEXT) {
        if (CVMM_UNLIKELY(n == size))
            return vq__fail(q, "descriptor list at %u is longer than the ring (%u)", pos, size);
        p += 16;
        if (p == end)
            p = first;
        f = vmem_hva_load_relaxed_le16(p + VQ_PACKED_DESC_FLAGS);
        n++;
    }
    uint16_t id = vmem_hva_load_relaxed_le16(p + 12);
    if (CVMM_UNLIKELY(id >= size))
        return vq__fail(q, "descriptor list at %u has buffer id %u (size %u)", pos, id, size);
    if (CVMM_UNLIKELY(q->inflight[id] != 0))
        return vq__fail(q, "buffer id %u made available again while in use", id);
    if (CVMM_UNLIKELY(vq__packed_outstanding(q) + n > size))
        return overrun(q, pos, n);
    q->inflight[id] = (uint16_t)(VQ__INFLIGHT | (n - 1));
    uint32_t np = pos + n;
    if (np >= size) {
        np -= size;
        q->avail_wrap = !q->avail_wrap;
        vq__packed_sync_wrap(q);
    }
    q->next_avail = (uint16_t)np;
    c->head = id;
    c->ndesc = (uint16_t)n;
    c->priv.table = q->desc;
    c->priv.table_gpa = q->desc_gpa;
    c->priv.total = 0;
    c->priv.gen = q->gen;
    c->priv.tsize = size;
    c->priv.next = pos;
    c->priv.ttl = n;
    c->priv.mode = VQ__WALK_PACKED;
    c->priv.writing = false;
    return 1;
}

/* put_used() - write len, id and flags of a used descriptor (its last 8 bytes), flags last.
 * One aligned 8-byte store makes all three visible at once (single-copy atomicity on every supported CPU),
 * so a driver whose acquire load of the flags sees the new value also sees the new id and len; the caller
 * puts a release fence before it when the store publishes.  ThreadSanitizer cannot relate an 8-byte store
 * to the driver's 2-byte flag load, so under TSan the same order is spelled out: len and id, then a
 * release store of the flags. */
static inline void put_used(uint8_t *d, uint32_t len, uint16_t id, uint16_t flags)
{
#if defined(__SANITIZE_THREAD__)
    vmem_hva_store_relaxed_le32(d + 8, len);
    vmem_hva_store_relaxed_le16(d + 12, id);
    vmem_hva_store_release_le16(d + 14, flags);
#else
    vmem_hva_store_relaxed_le64(d + 8, (uint64_t)len | (uint64_t)id << 32 | (uint64_t)flags << 48);
#endif
}

static inline uint16_t used_flags(uint16_t bits, uint32_t len)
{
    return (uint16_t)(bits | (len ? VQ_DESC_F_WRITE : 0));
}

static inline void advance_used(vq_queue *q, uint32_t n)
{
    uint32_t np = q->next_used + n;
    if (np >= q->size) {
        np -= q->size;
        q->used_wrap = !q->used_wrap;
        vq__packed_sync_wrap(q);
    }
    q->next_used = (uint16_t)np;
}

static __attribute__((noinline, cold)) int mark_used(vq_queue *q, uint32_t pos)
{
    vq__mark(q, q->desc_gpa + 16ull * pos + 8, 8);
    return 0;
}

int vq__packed_add_used_raw(vq_queue *q, uint16_t id, uint32_t len)
{
    /* Every field is loaded before the first store (stores through uint8_t/uint16_t pointers could alias
     * the queue and force reloads). */
    uint32_t size = q->size, pos = q->next_used;
    if (CVMM_UNLIKELY(id >= size))
        return -EINVAL;
    uint16_t *slot = &q->inflight[id], v = *slot;
    if (CVMM_UNLIKELY(!(v & VQ__INFLIGHT)))
        return -EINVAL;
    uint16_t flags = used_flags(q->used_bits, len);
    uint8_t *d = desc_at(q, pos);
    bool logging = q->dlog != NULL;
    uint32_t np = pos + (v & 0x7fffu) + 1u;
    if (np >= size) {
        np -= size;
        q->used_wrap = !q->used_wrap;
        vq__packed_sync_wrap(q);
    }
    q->next_used = (uint16_t)np;
    *slot = 0;
    /* Release fence + one store: pairs with the driver's acquire of the flags; everything the device
     * wrote into the buffers is visible before the descriptor turns used. */
    vmem_fence_release();
    put_used(d, len, id, flags);
    if (CVMM_UNLIKELY(logging))
        return mark_used(q, pos);
    return 0;
}

int vq__packed_add_used_batch_raw(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    /* Check every element first (taking each id out of flight so a duplicate fails), undo on failure. */
    for (unsigned i = 0; i < n; i++) {
        uint16_t id = e[i].head;
        if (CVMM_UNLIKELY(id >= q->size || !(q->inflight[id] & VQ__INFLIGHT))) {
            while (i-- > 0)
                q->inflight[e[i].head] |= VQ__INFLIGHT;
            return -EINVAL;
        }
        q->inflight[id] &= (uint16_t)~VQ__INFLIGHT;
    }
    if (n == 0)
        return 0;
    uint32_t first = q->next_used;
    uint16_t first_bits = q->used_bits;
    advance_used(q, (q->inflight[e[0].head] & 0x7fffu) + 1u);
    for (unsigned i = 1; i < n; i++) {
        uint16_t id = e[i].head;
        uint32_t pos = q->next_used;
        put_used(desc_at(q, pos), e[i].len, id, used_flags(q->used_bits, e[i].len));
        vq__mark(q, q->desc_gpa + 16ull * pos + 8, 8);
        advance_used(q, (q->inflight[id] & 0x7fffu) + 1u);
        q->inflight[id] = 0;
    }
    /* The first descriptor goes last, after a release fence: the driver polls that slot first, so it sees
     * the whole batch at once (pairs with its acquire of the first descriptor's flags). */
    vmem_fence_release();
    put_used(desc_at(q, first), e[0].len, e[0].head, used_flags(first_bits, e[0].len));
    vq__mark(q, q->desc_gpa + 16ull * first + 8, 8);
    q->inflight[e[0].head] = 0;
    return 0;
}

/* Linear position of (pos, wrap) in [0, 2*size): laps alternate the wrap counter, starting at 1. */
static inline uint32_t linear(const vq_queue *q, uint32_t pos, bool wrap) { return pos + (wrap ? 0 : q->size); }

/* (a - b) mod 2*size for a, b in [0, 2*size). */
static inline uint32_t lin_sub(const vq_queue *q, uint32_t a, uint32_t b)
{
    return a >= b ? a - b : a + 2u * q->size - b;
}

bool vq__packed_needs_notify(vq_queue *q)
{
    /* Full fence between the used flags store and reading the driver's event suppression; pairs with the
     * driver's barrier between writing that structure and re-reading the used descriptor. */
    vmem_fence_seq_cst();
    uint32_t v = vmem_hva_load_relaxed_le32(q->driver); /* desc (off_wrap) low half, flags high half */
    uint16_t flags = (uint16_t)(v >> 16) & 3u, off_wrap = (uint16_t)v;
    uint32_t old = q->signalled_used, new_l = linear(q, q->next_used, q->used_wrap);
    bool valid = q->signalled_valid;
    q->signalled_used = (uint16_t)new_l;
    q->signalled_valid = true;
    if (flags == VQ_RING_EVENT_FLAGS_DISABLE)
        return false;
    if (flags != VQ_RING_EVENT_FLAGS_DESC || !q->event_idx || !valid)
        return true; /* ENABLE, reserved value 3, or DESC without EVENT_IDX */
    uint32_t off = off_wrap & 0x7fffu;
    if (off >= q->size)
        return true; /* a position outside the ring: notify rather than lose the driver */
    uint32_t ev = linear(q, off, (off_wrap >> VQ_RING_EVENT_WRAP_SHIFT) & 1u);
    /* vring_need_event(ev, new, old) modulo 2*size: ev lies in [old, new). */
    uint32_t d_ev = lin_sub(q, new_l, ev);
    d_ev = d_ev == 0 ? 2u * q->size - 1 : d_ev - 1;
    return d_ev < lin_sub(q, new_l, old);
}

int vq__packed_enable_notification(vq_queue *q)
{
    uint16_t flags = VQ_RING_EVENT_FLAGS_ENABLE;
    if (q->event_idx) {
        flags = VQ_RING_EVENT_FLAGS_DESC;
        vmem_hva_store_relaxed_le16(q->device, (uint16_t)(q->next_avail | (uint16_t)q->avail_wrap << 15));
    }
    /* Release: off_wrap before the flags that make it meaningful. */
    vmem_hva_store_release_le16(q->device + 2, flags);
    vq__mark(q, q->device_gpa, 4);
    /* Full fence between "kick me" and re-reading the next descriptor; pairs with the driver's barrier
     * between making a descriptor available and reading the device event suppression. */
    vmem_fence_seq_cst();
    uint16_t f = vmem_hva_load_acquire_le16(desc_at(q, q->next_avail) + VQ_PACKED_DESC_FLAGS);
    return vq__packed_is_avail(q, f);
}

void vq__packed_disable_notification(vq_queue *q)
{
    vmem_hva_store_relaxed_le16(q->device + 2, VQ_RING_EVENT_FLAGS_DISABLE);
    vq__mark(q, q->device_gpa + 2, 2);
}

/* ---- direct entry points ---- */

int vq_packed_pop(vq_queue *q, vq_chain *c)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_PACKED))
        return vq__not_running(q, VQ__RUN_PACKED);
    return vq__packed_pop(q, c);
}

int vq_packed_add_used(vq_queue *q, uint16_t id, uint32_t len)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_PACKED))
        return vq__not_running(q, VQ__RUN_PACKED);
    return vq__packed_add_used(q, id, len);
}

int vq_packed_add_used_batch(vq_queue *q, const vq_used_elem *elems, unsigned n)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_PACKED))
        return vq__not_running(q, VQ__RUN_PACKED);
    return vq__packed_add_used_batch(q, elems, n);
}

bool vq_packed_needs_notify(vq_queue *q) { return q->run == VQ__RUN_PACKED && vq__packed_needs_notify(q); }

int vq_packed_enable_notification(vq_queue *q)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_PACKED))
        return vq__not_running(q, VQ__RUN_PACKED);
    return vq__packed_enable_notification(q);
}

int vq_packed_disable_notification(vq_queue *q)
{
    if (CVMM_UNLIKELY(q->run != VQ__RUN_PACKED))
        return vq__not_running(q, VQ__RUN_PACKED);
    vq__packed_disable_notification(q);
    return 0;
}
