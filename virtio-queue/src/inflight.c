/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* inflight.c - inflight I/O tracking while the queue runs: record on pop, clear on completion, hand out the
 * recovered chains first (cvmm/vq/inflight.h; recovery itself is in inflight_recover.c).
 *
 * Crash consistency: a SIGKILL stops the back-end between two instructions, and every store executed
 * before it reaches the shared region.  What matters is the order in which the stores are executed, so each
 * step that the spec orders is separated from the next by a release fence (a compiler barrier on x86; it
 * also orders the stores for a front-end that reads the region on another CPU after we died). */
#include <stdlib.h>

#include "internal.h"
#include "cvmm/vq/inflight.h"
#include "cvmm/vq/packed.h"

#define STEP(q, n)                                                                                                     \
    do {                                                                                                               \
        if (CVMM_UNLIKELY((q)->ifl_probe != NULL))                                                                     \
            (q)->ifl_probe((q)->ifl_probe_arg, (n));                                                                   \
    } while (0)

static inline vq_inflight_split_hdr *shdr(const vq_queue *q) { return (vq_inflight_split_hdr *)(void *)q->ifl; }
static inline vq_inflight_split_desc *sdesc(const vq_queue *q, uint32_t i)
{
    return (vq_inflight_split_desc *)(void *)(q->ifl + VQ_INFLIGHT_SPLIT_HDR + 16u * i);
}
static inline vq_inflight_packed_hdr *phdr(const vq_queue *q) { return (vq_inflight_packed_hdr *)(void *)q->ifl; }
static inline vq_inflight_packed_desc *pdesc(const vq_queue *q, uint32_t i)
{
    return (vq_inflight_packed_desc *)(void *)(q->ifl + VQ_INFLIGHT_PACKED_HDR + 32u * i);
}

uint64_t vq_inflight_bytes(enum vq_layout layout, uint32_t desc_num)
{
    return layout == VQ_LAYOUT_PACKED ? VQ_INFLIGHT_PACKED_HDR + 32ull * desc_num
                                      : VQ_INFLIGHT_SPLIT_HDR + 16ull * desc_num;
}

int vq_inflight_format(void *region, size_t size, enum vq_layout layout, uint32_t desc_num)
{
    if (!region || ((uintptr_t)region & 7u) || desc_num == 0 || desc_num > VQ_MAX_SIZE ||
        (layout != VQ_LAYOUT_SPLIT && layout != VQ_LAYOUT_PACKED) || size < vq_inflight_bytes(layout, desc_num))
        return -EINVAL;
    memset(region, 0, (size_t)vq_inflight_bytes(layout, desc_num));
    if (layout == VQ_LAYOUT_SPLIT) {
        vq_inflight_split_hdr *h = region;
        h->version = VQ_INFLIGHT_VERSION;
        h->desc_num = (uint16_t)desc_num;
        return 0;
    }
    vq_inflight_packed_hdr *h = region;
    vq_inflight_packed_desc *d = (vq_inflight_packed_desc *)(void *)((uint8_t *)region + VQ_INFLIGHT_PACKED_HDR);
    for (uint32_t i = 0; i < desc_num; i++)
        d[i].next = (uint16_t)(i + 1); /* the last one's next is desc_num: the end of the free list */
    h->version = VQ_INFLIGHT_VERSION;
    h->desc_num = (uint16_t)desc_num;
    h->used_wrap_counter = h->old_used_wrap_counter = 1;
    return 0;
}

int vq_inflight_attach(vq_queue *q, void *region, size_t size)
{
    if (!region) {
        q->ifl_on = false;
        q->ifl = NULL;
        q->ifl_size = 0;
        q->ifl_nresub = q->ifl_next_resub = 0;
        return 0;
    }
    if (((uintptr_t)region & 7u) || size < VQ_INFLIGHT_PACKED_HDR)
        return -EINVAL;
    if (q->ready)
        return -EBUSY;
    if (!q->ifl_entry) {
        q->ifl_entry = calloc(q->max_size, sizeof(q->ifl_entry[0]));
        q->ifl_resub = calloc(q->max_size, sizeof(q->ifl_resub[0]));
        q->ifl_saved = calloc(q->max_size, 16);
        if (!q->ifl_entry || !q->ifl_resub || !q->ifl_saved) {
            vq__ifl_free(q);
            return -ENOMEM;
        }
    }
    q->ifl = region;
    q->ifl_size = size;
    q->ifl_nresub = q->ifl_next_resub = 0;
    return 0;
}

void vq__ifl_free(vq_queue *q)
{
    free(q->ifl_entry);
    free(q->ifl_resub);
    free(q->ifl_saved);
    q->ifl_entry = NULL;
    q->ifl_resub = NULL;
    q->ifl_saved = NULL;
}

uint32_t vq_inflight_pending(const vq_queue *q) { return q->ifl_nresub - q->ifl_next_resub; }

/* ---- split ---- */

static int split_pop(vq_queue *q, vq_chain *c)
{
    int rc = vq__split_pop_raw(q, c);
    if (rc != 1)
        return rc;
    STEP(q, VQ__IFL_SPLIT_POPPED);
    vq_inflight_split_desc *d = sdesc(q, c->head); /* head < size <= desc_num (checked at start) */
    d->counter = q->ifl_counter++;
    vmem_fence_release(); /* the counter before the flag that makes it count */
    STEP(q, VQ__IFL_SPLIT_COUNTED);
    d->inflight = 1;
    vmem_fence_release();
    STEP(q, VQ__IFL_SPLIT_RECORDED);
    return 1;
}

static int split_used(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (CVMM_UNLIKELY(e[i].head >= q->size))
            return -EINVAL;
    if (n == 0)
        return 0;
    vq_inflight_split_hdr *h = shdr(q);
    for (unsigned i = 0; i < n; i++) { /* the batch list, so that recovery finds the batch if we die below */
        sdesc(q, e[i].head)->next = q->ifl_last_batch;
        q->ifl_last_batch = e[i].head;
        h->last_batch_head = e[i].head;
        STEP(q, VQ__IFL_SPLIT_LINKED);
    }
    vmem_fence_release(); /* the list before the used->idx store that makes it the last batch */
    int rc = vq__split_add_used_batch_raw(q, e, n);
    if (rc < 0)
        return rc;
    vmem_fence_release(); /* used->idx before anything below: inflight = 0 only once the driver owns it */
    STEP(q, VQ__IFL_SPLIT_PUBLISHED);
    for (unsigned i = 0; i < n; i++) {
        sdesc(q, e[i].head)->inflight = 0;
        STEP(q, VQ__IFL_SPLIT_CLEARED);
    }
    vmem_fence_release();
    h->used_idx = q->next_used;
    STEP(q, VQ__IFL_SPLIT_DONE);
    return 0;
}

/* ---- packed ---- */

/* used_idx, old_used_idx, used_wrap_counter and old_used_wrap_counter: bytes 16-23 of the header, one
 * aligned 8-byte store (the region is 8-aligned), so a crash never leaves an index without its counter. */
static void put_used_state(vq_queue *q, uint16_t used, uint16_t old_used, bool wrap, bool old_wrap)
{
    uint8_t b[8] = {0};
    memcpy(b, &used, 2);
    memcpy(b + 2, &old_used, 2);
    b[4] = wrap;
    b[5] = old_wrap;
    uint64_t v;
    memcpy(&v, b, 8);
    vmem_hva_store_relaxed_le64(q->ifl + 16, cvmm_le64_to_cpu(v)); /* stores exactly the bytes of b */
}

static int broken_list(vq_queue *q, const char *what, uint32_t entry)
{
    return vq__fail(q, "inflight region: %s (entry %u, %u entries)", what, entry, q->ifl_desc_num);
}

static int packed_pop(vq_queue *q, vq_chain *c)
{
    uint32_t pos = q->next_avail, dn = q->ifl_desc_num;
    int rc = vq__packed_pop_raw(q, c);
    if (rc != 1)
        return rc;
    STEP(q, VQ__IFL_PACKED_POPPED);
    uint16_t head = q->ifl_old_free, f = q->ifl_free;
    if (CVMM_UNLIKELY(head >= dn || f != head))
        return broken_list(q, "no free entry for a popped list", head);
    vq_inflight_packed_desc *hd = pdesc(q, head);
    hd->num = 0;
    hd->counter = q->ifl_counter++;
    vmem_fence_release(); /* num and counter before the flag */
    STEP(q, VQ__IFL_PACKED_COUNTED);
    hd->inflight = 1;
    vmem_fence_release();
    STEP(q, VQ__IFL_PACKED_HEAD);
    vq_inflight_packed_hdr *h = phdr(q);
    for (uint32_t k = 0; k < c->ndesc; k++) {
        if (CVMM_UNLIKELY(f >= dn))
            return broken_list(q, "free list too short", f);
        uint32_t p = pos + k < q->size ? pos + k : pos + k - q->size;
        struct vq__raw_desc rd;
        vq__read_desc(q->desc + 16u * p, true, &rd);
        if (k + 1 == c->ndesc)
            hd->last = f;
        hd->num = (uint16_t)(k + 1);
        vq_inflight_packed_desc *d = pdesc(q, f);
        d->addr = rd.addr;
        d->len = rd.len;
        d->id = rd.id_next;
        d->flags = rd.flags;
        uint16_t nx = d->next; /* front-end memory: checked before it is used as an index */
        if (CVMM_UNLIKELY(nx > dn))
            return broken_list(q, "free list link out of range", f);
        vmem_fence_release();
        f = nx;
        h->free_head = f;
        STEP(q, VQ__IFL_PACKED_DESC);
    }
    q->ifl_free = f;
    vmem_fence_release(); /* the whole list before the store that commits it */
    h->old_free_head = f;
    q->ifl_old_free = f;
    vmem_fence_release();
    STEP(q, VQ__IFL_PACKED_RECORDED);
    q->ifl_entry[c->head] = head;
    return 1;
}

/* The checks of vq__packed_add_used_batch_raw() before the region changes: ids < size, in flight, once. */
static bool packed_batch_ok(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    unsigned i = 0;
    for (; i < n; i++) {
        uint16_t id = e[i].head;
        if (id >= q->size || !(q->inflight[id] & VQ__INFLIGHT))
            break;
        q->inflight[id] &= (uint16_t)~VQ__INFLIGHT;
    }
    for (unsigned k = 0; k < i; k++)
        q->inflight[e[k].head] |= VQ__INFLIGHT;
    return i == n;
}

static int packed_used(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    if (!packed_batch_ok(q, e, n))
        return -EINVAL;
    if (n == 0)
        return 0;
    vq_inflight_packed_hdr *h = phdr(q);
    uint32_t dn = q->ifl_desc_num, total = 0;
    uint16_t f = q->ifl_free;
    for (unsigned i = 0; i < n; i++) {
        uint16_t head = q->ifl_entry[e[i].head]; /* < dn unless popped before tracking started */
        if (CVMM_UNLIKELY(head >= dn))
            return broken_list(q, "buffer popped before tracking started", head);
        uint16_t last = pdesc(q, head)->last;
        if (CVMM_UNLIKELY(last >= dn))
            return broken_list(q, "last entry out of range", head);
        pdesc(q, last)->next = f;
        vmem_fence_release();
        f = head;
        h->free_head = f;
        total += (q->inflight[e[i].head] & 0x7fffu) + 1u;
        STEP(q, VQ__IFL_PACKED_RELINKED);
    }
    q->ifl_free = f;
    uint16_t old = q->next_used;
    bool old_wrap = q->used_wrap, wrap = old_wrap;
    uint32_t np = old + total; /* total <= size: the lists were outstanding */
    if (np >= q->size) {
        np -= q->size;
        wrap = !wrap;
    }
    vmem_fence_release();
    put_used_state(q, (uint16_t)np, old, wrap, old_wrap);
    vmem_fence_release(); /* the new used position before the descriptors that reach it */
    STEP(q, VQ__IFL_PACKED_USED_IDX);
    int rc = vq__packed_add_used_batch_raw(q, e, n);
    if (rc < 0)
        return rc;
    vmem_fence_release();
    STEP(q, VQ__IFL_PACKED_PUBLISHED);
    for (unsigned i = 0; i < n; i++) {
        pdesc(q, q->ifl_entry[e[i].head])->inflight = 0;
        STEP(q, VQ__IFL_PACKED_CLEARED);
    }
    vmem_fence_release();
    h->old_free_head = f;
    q->ifl_old_free = f;
    vmem_fence_release();
    STEP(q, VQ__IFL_PACKED_OLD_FREE);
    put_used_state(q, (uint16_t)np, (uint16_t)np, wrap, wrap);
    vmem_fence_release();
    STEP(q, VQ__IFL_PACKED_DONE);
    return 0;
}

/* ---- recovered chains ---- */

static int resubmit(vq_queue *q, vq_chain *c)
{
    const struct vq__resub *r = &q->ifl_resub[q->ifl_next_resub++];
    if (q->layout == VQ_LAYOUT_SPLIT) {
        vq__split_chain_start(q, c, r->id);
        return 1;
    }
    const uint8_t *d = q->ifl_saved + 16u * r->off;
    c->head = r->id;
    c->ndesc = r->num;
    c->priv.total = 0;
    c->priv.writing = false;
    if (r->num == 1) { /* as vq_pop() leaves a list of one: the descriptor's values, already read */
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        memcpy(&addr, d, 8);
        memcpy(&len, d + 8, 4);
        memcpy(&flags, d + 14, 2);
        c->priv.one_addr = cvmm_le64_to_cpu(addr);
        c->priv.one_len = cvmm_le32_to_cpu(len);
        c->priv.one_flags = cvmm_le16_to_cpu(flags);
        c->priv.mode = VQ__WALK_PACKED_ONE;
        return 1;
    }
    c->priv.table = d;
    c->priv.table_gpa = 0;
    c->priv.gen = q->gen;
    c->priv.tsize = r->num;
    c->priv.next = 0;
    c->priv.ttl = r->num;
    c->priv.mode = VQ__WALK_PACKED_SAVED;
    return 1;
}

int vq__ifl_pop(vq_queue *q, vq_chain *c)
{
    if (q->ifl_next_resub < q->ifl_nresub)
        return resubmit(q, c);
    return q->layout == VQ_LAYOUT_SPLIT ? split_pop(q, c) : packed_pop(q, c);
}

int vq__ifl_add_used_batch(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    return q->layout == VQ_LAYOUT_SPLIT ? split_used(q, e, n) : packed_used(q, e, n);
}
