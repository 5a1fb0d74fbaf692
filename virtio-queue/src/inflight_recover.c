/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* inflight_recover.c - vq__ifl_start(): validate an attached inflight region when the queue starts, settle
 * what a crash left half done (the spec's "When reconnecting" steps), rebuild the ring position and list
 * the chains in flight, oldest first (cvmm/vq/inflight.h).  The region is front-end memory: every field
 * is read once into a local and checked before it is used as an index. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "cvmm/vq/inflight.h"
#include "cvmm/vq/packed.h"

static int bad(const vq_queue *q, const char *fmt, ...) CVMM_PRINTF(2, 3);
static int bad(const vq_queue *q, const char *fmt, ...)
{
    char msg[CVMM_LOG_LINE_MAX - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cvmm_logf(q->log, CVMM_LOG_ERROR, "vq%u: cannot start: inflight region: %s", q->index, msg);
    return -EBADMSG;
}

static inline vq_inflight_split_desc *sdesc(const vq_queue *q, uint32_t i)
{
    return (vq_inflight_split_desc *)(void *)(q->ifl + VQ_INFLIGHT_SPLIT_HDR + 16u * i);
}
static inline vq_inflight_packed_desc *pdesc(const vq_queue *q, uint32_t i)
{
    return (vq_inflight_packed_desc *)(void *)(q->ifl + VQ_INFLIGHT_PACKED_HDR + 32u * i);
}

static int by_counter(const void *a, const void *b)
{
    const struct vq__resub *x = a, *y = b;
    if (x->counter != y->counter)
        return x->counter < y->counter ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Was anything ever recorded?  A counter is never 0 once a chain was popped (they start at 1). */
static bool never_used(const vq_queue *q, bool split, uint32_t dn)
{
    for (uint32_t i = 0; i < dn; i++) {
        uint64_t ctr = split ? sdesc(q, i)->counter : pdesc(q, i)->counter;
        uint8_t fl = split ? sdesc(q, i)->inflight : pdesc(q, i)->inflight;
        if (ctr != 0 || fl != 0)
            return false;
    }
    return true;
}

static uint64_t max_counter(const vq_queue *q, bool split, uint32_t dn)
{
    uint64_t m = 0;
    for (uint32_t i = 0; i < dn; i++) {
        uint64_t ctr = split ? sdesc(q, i)->counter : pdesc(q, i)->counter;
        m = ctr > m ? ctr : m;
    }
    return m;
}

/* Split: settle the last batch, then every head in flight is a chain to resubmit; the next avail index is
 * used->idx plus their number (each popped head is either in flight or counted in used->idx). */
static int split_recover(vq_queue *q, uint32_t dn)
{
    vq_inflight_split_hdr *h = (vq_inflight_split_hdr *)(void *)q->ifl;
    uint16_t used = q->next_used, rused = h->used_idx; /* next_used: read from the used ring at start */
    if (rused != used) {
        uint16_t batch = (uint16_t)(used - rused), i = h->last_batch_head;
        if (batch > dn)
            return bad(q, "used_idx %u is %u behind the used ring's %u (%u entries)", rused, batch, used, dn);
        for (uint32_t k = 0; k < batch; k++) {
            if (i >= dn)
                return bad(q, "last batch list reaches entry %u (%u entries)", i, dn);
            vq_inflight_split_desc *d = sdesc(q, i);
            d->inflight = 0;
            i = d->next;
        }
        h->used_idx = used;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < dn; i++) {
        vq_inflight_split_desc *d = sdesc(q, i);
        uint8_t fl = d->inflight;
        if (fl == 0)
            continue;
        if (fl != 1 || i >= q->size)
            return bad(q, "entry %u in flight (%u) is not a head of a ring of %u", i, fl, q->size);
        q->ifl_resub[n++] = (struct vq__resub){.counter = d->counter, .id = (uint16_t)i};
    }
    q->ifl_nresub = n;
    q->ifl_last_batch = h->last_batch_head;
    q->next_avail = q->shadow_avail = (uint16_t)(used + n);
    return 0;
}

/* Packed: walk @num entries of one list from @head, copying its descriptors to ifl_saved at @off.
 * Return: the buffer id (from the last descriptor), or -EBADMSG. */
static int copy_list(vq_queue *q, uint32_t dn, uint16_t head, uint32_t num, uint32_t off)
{
    uint32_t i = head;
    uint16_t id = 0;
    for (uint32_t k = 0; k < num; k++) {
        if (i >= dn)
            return bad(q, "list at entry %u links to entry %u (%u entries)", head, i, dn);
        const vq_inflight_packed_desc *d = pdesc(q, i);
        /* ifl_saved holds ring layout (little-endian): the walker reads it like the ring */
        uint64_t addr = cvmm_cpu_to_le64(d->addr);
        uint32_t len = cvmm_cpu_to_le32(d->len);
        uint16_t le_id = cvmm_cpu_to_le16(d->id), flags = cvmm_cpu_to_le16(d->flags);
        id = d->id;
        uint8_t *s = q->ifl_saved + 16u * (off + k);
        memcpy(s, &addr, 8);
        memcpy(s + 8, &len, 4);
        memcpy(s + 12, &le_id, 2);
        memcpy(s + 14, &flags, 2);
        if (k + 1 == num && pdesc(q, head)->last != i)
            return bad(q, "list at entry %u ends at entry %u, its last says %u", head, i, pdesc(q, head)->last);
        i = d->next;
    }
    if (id >= q->size)
        return bad(q, "list at entry %u has buffer id %u (size %u)", head, id, q->size);
    if (q->inflight[id] != 0)
        return bad(q, "buffer id %u is in flight twice", id);
    return id;
}

/* Packed: commit or roll back an unfinished completion, roll back an unfinished pop, clear the free list,
 * then collect the lists in flight; positions: used from the region, avail after the lists in flight. */
static int packed_recover(vq_queue *q, uint32_t dn)
{
    vq_inflight_packed_hdr *h = (vq_inflight_packed_hdr *)(void *)q->ifl;
    uint16_t fh = h->free_head, ofh = h->old_free_head, u = h->used_idx, ou = h->old_used_idx;
    uint8_t w = h->used_wrap_counter, ow = h->old_used_wrap_counter;
    if (fh > dn || ofh > dn || u >= q->size || ou >= q->size || w > 1 || ow > 1)
        return bad(q, "free_head %u/%u, used_idx %u/%u, wrap %u/%u out of range (%u entries, size %u)", fh, ofh, u, ou,
                   w, ow, dn, q->size);
    if (u != ou || w != ow) {
        /* A completion did not finish: did its first used descriptor reach the ring?  An available
         * descriptor of that lap there means no: roll back.  Anything else (used, or the driver's next
         * lap) means yes: commit. */
        uint16_t f = vmem_hva_load_acquire_le16(q->desc + 16u * ou + VQ_PACKED_DESC_FLAGS);
        uint16_t avail = ow ? VQ_DESC_F_AVAIL : VQ_DESC_F_USED;
        if ((f & (VQ_DESC_F_AVAIL | VQ_DESC_F_USED)) != avail) {
            ofh = fh;
            ou = u;
            ow = w;
        }
    }
    h->free_head = h->old_free_head = ofh;
    h->used_idx = h->old_used_idx = ou;
    h->used_wrap_counter = h->old_used_wrap_counter = ow;
    uint32_t steps = 0;
    for (uint32_t i = ofh; i != dn; i = pdesc(q, i)->next) {
        if (i > dn || ++steps > dn)
            return bad(q, "free list %s at entry %u", i > dn ? "leaves the region" : "loops", i);
        pdesc(q, i)->inflight = 0;
    }
    memset(q->inflight, 0, sizeof(q->inflight[0]) * q->max_size);
    uint32_t n = 0, total = 0;
    for (uint32_t i = 0; i < dn; i++) {
        const vq_inflight_packed_desc *d = pdesc(q, i);
        uint8_t fl = d->inflight;
        if (fl == 0)
            continue;
        uint16_t num = d->num;
        if (fl != 1 || num == 0 || num > q->size - total)
            return bad(q, "entry %u in flight (%u) with %u descriptors (%u of %u held already)", i, fl, num, total,
                       q->size);
        int id = copy_list(q, dn, (uint16_t)i, num, total);
        if (id < 0)
            return id;
        q->inflight[id] = (uint16_t)(VQ__INFLIGHT | (num - 1u));
        q->ifl_entry[id] = (uint16_t)i;
        q->ifl_resub[n++] = (struct vq__resub){.counter = d->counter, .off = total, .id = (uint16_t)id, .num = num};
        total += num;
    }
    q->ifl_nresub = n;
    q->ifl_free = q->ifl_old_free = ofh;
    q->next_used = ou;
    q->used_wrap = ow;
    uint32_t a = ou + total;
    q->avail_wrap = ow;
    if (a >= q->size) {
        a -= q->size;
        q->avail_wrap = !ow;
    }
    q->next_avail = (uint16_t)a;
    vq__packed_sync_wrap(q);
    return 0;
}

int vq__ifl_start(vq_queue *q)
{
    q->ifl_on = false;
    q->ifl_nresub = q->ifl_next_resub = 0;
    if (!q->ifl)
        return 0;
    bool split = q->layout == VQ_LAYOUT_SPLIT;
    enum vq_layout layout = split ? VQ_LAYOUT_SPLIT : VQ_LAYOUT_PACKED;
    const vq_inflight_split_hdr *h = (const vq_inflight_split_hdr *)(const void *)q->ifl; /* same first 12 bytes */
    uint16_t version = h->version, dn = h->desc_num;
    if (version == 0) { /* never initialised (spec): ours now */
        dn = (uint16_t)q->size;
        if (vq_inflight_bytes(layout, dn) > q->ifl_size)
            return bad(q, "%zu bytes cannot hold %u entries", q->ifl_size, dn);
        (void)vq_inflight_format(q->ifl, q->ifl_size, layout, dn);
    } else if (version != VQ_INFLIGHT_VERSION) {
        return bad(q, "version %u", version);
    }
    if (dn < q->size || vq_inflight_bytes(layout, dn) > q->ifl_size)
        return bad(q, "%u entries for a ring of %u in %zu bytes", dn, q->size, q->ifl_size);
    q->ifl_desc_num = dn;
    if (never_used(q, split, dn)) { /* nothing to recover: the ring position stands; start the region there */
        (void)vq_inflight_format(q->ifl, q->ifl_size, layout, dn);
        if (split) {
            ((vq_inflight_split_hdr *)(void *)q->ifl)->used_idx = q->next_used;
            q->ifl_last_batch = 0;
        } else {
            vq_inflight_packed_hdr *ph = (vq_inflight_packed_hdr *)(void *)q->ifl;
            ph->used_idx = ph->old_used_idx = q->next_used;
            ph->used_wrap_counter = ph->old_used_wrap_counter = q->used_wrap;
            q->ifl_free = q->ifl_old_free = 0;
            if (q->next_used != q->next_avail || q->used_wrap != q->avail_wrap)
                cvmm_logf(q->log, CVMM_LOG_WARN,
                          "vq%u: inflight region is new but the ring has buffers in flight: they are not tracked",
                          q->index);
        }
        q->ifl_counter = 1;
    } else {
        int rc = split ? split_recover(q, dn) : packed_recover(q, dn);
        if (rc < 0)
            return rc;
        q->ifl_counter = max_counter(q, split, dn) + 1;
        qsort(q->ifl_resub, q->ifl_nresub, sizeof(q->ifl_resub[0]), by_counter);
        if (q->ifl_nresub)
            cvmm_logf(q->log, CVMM_LOG_INFO, "vq%u: %u request(s) in flight before a restart are resubmitted", q->index,
                      q->ifl_nresub);
    }
    q->ifl_on = true;
    return 0;
}
