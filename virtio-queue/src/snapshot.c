/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* snapshot.c - vq_snapshot_take(): one walk of a popped chain into caller storage (cvmm/vq/snapshot.h). */
#include "internal.h"
#include "cvmm/vq/snapshot.h"

int vq_snapshot_take(vq_queue *q, const vq_chain *c, vq_desc_info *desc, uint32_t cap, vq_snapshot *s)
{
    if (CVMM_UNLIKELY(desc == NULL && cap != 0))
        return -EINVAL;
    /* @c stays unwalked (after -ENOSPC the caller may try again with more room): the walk is a copy.  A
     * split chain fresh from the pop is rebuilt from the queue and its head instead of copied: the pop
     * stored @c a moment ago field by field, and a struct copy's 16-byte loads cannot be forwarded from
     * those narrower stores still in the store buffer, so they waited for them (~60 % of this function
     * in the profile, README "Profile").  The rebuilt chain is the one vq__split_chain_start() made. */
    vq_chain walk;
    if (c->priv.mode == VQ__WALK_SPLIT && c->priv.next == c->head && c->priv.ttl == c->priv.tsize) {
        vq__split_chain_start(q, &walk, c->head);
    } else if (c->priv.mode == VQ__WALK_PACKED_ONE) {
        /* A packed list of one descriptor fresh from the pop: the same stall, so only the fields this mode
         * walks are copied, each with the width the pop stored it with (mode and totals are constants). */
        walk.head = c->head;
        walk.ndesc = 1; /* what the pop stores for this mode (a load would pair with head's into one) */
        walk.priv.one_addr = c->priv.one_addr;
        walk.priv.one_len = c->priv.one_len;
        walk.priv.one_flags = c->priv.one_flags;
        walk.priv.total = 0;
        walk.priv.mode = VQ__WALK_PACKED_ONE;
        walk.priv.writing = false;
    } else {
        walk = *c;
    }
    uint32_t n = 0, nread = 0;
    uint64_t readable = 0, writable = 0;
    /* The walker reads each descriptor once into a local and checks every chain rule (order of readable
     * and writable buffers, the 4 GiB total, regions, loops, indirect tables): the entries stored are
     * those validated locals, never read from guest memory again. */
    int rc = vq__chain_collect(q, &walk, desc, cap, &n);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < n; i++) {
        if (desc[i].write) {
            writable += desc[i].len;
        } else {
            readable += desc[i].len;
            nread = i + 1;
        }
    }
    s->desc = desc;
    s->ndesc = n;
    s->nread = nread;
    s->readable = (uint32_t)readable; /* the walker refused totals over 4 GiB */
    s->writable = (uint32_t)writable;
    s->head = c->head;
    s->priv.q = q;
    s->priv.gen = q->gen;
    return 0;
}
