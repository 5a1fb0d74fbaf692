/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* chain.c - the descriptor chain walker for both layouts (every chain rule of cvmm/vq/chain.h). */
#include "internal.h"
#include "cvmm/vq/packed.h"
#include "cvmm/vq/split.h"

/* The queue's map changed since @c's table pointer was taken: translate the table again. */
static int refresh_table(vq_queue *q, vq_chain *c)
{
    uint8_t *t;
    if (vq__translate(q, c->priv.table_gpa, 16ull * c->priv.tsize, false, &t) != 0)
        return vq__fail(q, "descriptor table 0x%llx of chain %u left guest memory",
                        (unsigned long long)c->priv.table_gpa, c->head);
    c->priv.table = t;
    c->priv.gen = q->gen;
    return 0;
}

/* Switch @c to the indirect table [addr, addr+len).  Out of line: the hot path passes scalars, so the
 * descriptor never has to leave registers. */
static __attribute__((noinline)) int enter_indirect(vq_queue *q, vq_chain *c, uint64_t addr, uint32_t len, uint8_t mode)
{
    if (len == 0 || (len & 15u) != 0)
        return vq__fail(q, "chain %u: indirect table length %u is not a non-zero multiple of 16", c->head, len);
    if ((len >> 4) > VQ__MAX_INDIRECT)
        return vq__fail(q, "chain %u: indirect table of %u entries is too long", c->head, len >> 4);
    uint8_t *t;
    if (vq__translate(q, addr, len, false, &t) != 0)
        return vq__fail(q, "chain %u: indirect table 0x%llx+%u is not inside one memory region", c->head,
                        (unsigned long long)addr, len);
    c->priv.table = t;
    c->priv.table_gpa = addr;
    c->priv.tsize = len >> 4;
    c->priv.next = 0;
    c->priv.ttl = len >> 4;
    c->priv.mode = mode;
    c->priv.gen = q->gen;
    return 0;
}

/* Common tail: ordering, total length and address checks, then fill @out. */
static CVMM_ALWAYS_INLINE int yield(vq_queue *q, vq_chain *c, const struct vq__raw_desc *d, vq_desc_info *out)
{
    bool write = (d->flags & VQ_DESC_F_WRITE) != 0;
    if (CVMM_UNLIKELY(!write && c->priv.writing))
        return vq__fail(q, "chain %u: device-readable descriptor after a writable one", c->head);
    c->priv.writing = write;
    c->priv.total += d->len;
    if (CVMM_UNLIKELY(c->priv.total > UINT32_MAX))
        return vq__fail(q, "chain %u: total length exceeds 4 GiB", c->head);
    uint8_t *hva = NULL;
    if (CVMM_LIKELY(d->len != 0)) {
        int rc = vq__translate(q, d->addr, d->len, write, &hva);
        if (CVMM_UNLIKELY(rc != 0))
            return vq__fail(q, "chain %u: buffer 0x%llx+%u is not inside one %smemory region", c->head,
                            (unsigned long long)d->addr, d->len, rc == -EPERM ? "writable " : "");
    }
    out->gpa = d->addr;
    out->hva = hva;
    out->len = d->len;
    out->write = write;
    return 1;
}

static CVMM_ALWAYS_INLINE int split_next(vq_queue *q, vq_chain *c, vq_desc_info *out)
{
    struct vq__raw_desc d;
    for (;;) {
        if (CVMM_UNLIKELY(c->priv.ttl == 0))
            return vq__fail(q, "chain %u: more than %u descriptors (a loop)", c->head, c->priv.tsize);
        c->priv.ttl--;
        vq__read_desc(c->priv.table + 16u * c->priv.next, false, &d);
        if (CVMM_UNLIKELY(d.flags & VQ_DESC_F_INDIRECT)) {
            if (c->priv.mode == VQ__WALK_SPLIT_IND)
                return vq__fail(q, "chain %u: nested indirect table", c->head);
            if (d.flags & VQ_DESC_F_NEXT)
                return vq__fail(q, "chain %u: descriptor with both INDIRECT and NEXT", c->head);
            int rc = enter_indirect(q, c, d.addr, d.len, VQ__WALK_SPLIT_IND);
            if (rc < 0)
                return rc;
            continue;
        }
        if (d.flags & VQ_DESC_F_NEXT) {
            if (CVMM_UNLIKELY(d.id_next >= c->priv.tsize))
                return vq__fail(q, "chain %u: next %u out of range (%u)", c->head, d.id_next, c->priv.tsize);
            c->priv.next = d.id_next;
        } else {
            c->priv.mode = VQ__WALK_DONE;
        }
        return yield(q, c, &d, out);
    }
}

static CVMM_ALWAYS_INLINE int packed_next(vq_queue *q, vq_chain *c, vq_desc_info *out)
{
    struct vq__raw_desc d;
    for (;;) {
        uint32_t ttl = c->priv.ttl;
        if (ttl == 0) {
            c->priv.mode = VQ__WALK_DONE;
            return 0;
        }
        c->priv.ttl = --ttl;
        vq__read_desc(c->priv.table + 16u * c->priv.next, true, &d);
        if (++c->priv.next == c->priv.tsize)
            c->priv.next = 0;
        if (CVMM_UNLIKELY(d.flags & VQ_DESC_F_INDIRECT)) {
            if (c->priv.mode == VQ__WALK_PACKED_IND)
                return vq__fail(q, "chain %u: nested indirect table", c->head);
            if (c->ndesc != 1 || (d.flags & VQ_DESC_F_NEXT))
                return vq__fail(q, "chain %u: INDIRECT inside a list of %u descriptors", c->head, c->ndesc);
            int rc = enter_indirect(q, c, d.addr, d.len, VQ__WALK_PACKED_IND);
            if (rc < 0)
                return rc;
            continue;
        }
        if (ttl == 0)
            c->priv.mode = VQ__WALK_DONE; /* the last one: the next call ends at once, as for split chains */
        return yield(q, c, &d, out);
    }
}

static CVMM_ALWAYS_INLINE int chain_next(vq_queue *q, vq_chain *c, vq_desc_info *out)
{
    if (CVMM_UNLIKELY(q->run == VQ__RUN_NONE))
        return vq__not_running(q, VQ__RUN_NONE);
    if (c->priv.mode == VQ__WALK_DONE)
        return 0;
    if (c->priv.mode == VQ__WALK_PACKED_ONE) {
        /* vq_pop() read the list's only descriptor already (once; these are the validated locals). */
        struct vq__raw_desc d = {c->priv.one_addr, c->priv.one_len, 0, c->priv.one_flags};
        if (CVMM_LIKELY(!(d.flags & VQ_DESC_F_INDIRECT))) {
            c->priv.mode = VQ__WALK_DONE;
            return yield(q, c, &d, out);
        }
        int rc = enter_indirect(q, c, d.addr, d.len, VQ__WALK_PACKED_IND);
        if (rc < 0)
            return rc; /* then walk the table below */
    }
    if (CVMM_UNLIKELY(c->priv.gen != q->gen) && c->priv.mode != VQ__WALK_PACKED_SAVED) {
        int rc = refresh_table(q, c);
        if (rc < 0)
            return rc;
    }
    if (c->priv.mode <= VQ__WALK_SPLIT_IND)
        return split_next(q, c, out);
    return packed_next(q, c, out);
}

int vq_chain_next(vq_queue *q, vq_chain *c, vq_desc_info *out) { return chain_next(q, c, out); }

int vq__chain_collect(vq_queue *q, vq_chain *c, vq_desc_info *desc, uint32_t cap, uint32_t *n)
{
    uint32_t i = 0;
    int rc;
    for (;; i++) {
        vq_desc_info extra;
        rc = chain_next(q, c, i < cap ? &desc[i] : &extra);
        if (rc <= 0)
            break;
        if (CVMM_UNLIKELY(i == cap))
            return -ENOSPC; /* one more descriptor than fits (read and checked, not kept) */
    }
    *n = i;
    return rc;
}
