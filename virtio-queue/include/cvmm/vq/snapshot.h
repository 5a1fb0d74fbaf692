/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/snapshot.h - a popped chain read once: every descriptor validated, translated and kept.
 *
 *  A chain's descriptors live in guest memory, which the guest may rewrite at any time (another vCPU).
 *  vq_chain_next() reads a descriptor every time it is called, so two walks of one chain (one to measure,
 *  one to move data) can see two different chains: the double fetch of issue 10.  A snapshot reads each
 *  descriptor of the chain exactly once (the indirect table included), checks every rule of
 *  cvmm/vq/chain.h, translates each buffer and stores the validated (gpa, hva, len, write) values in
 *  storage the caller provides.  Reader, Writer and iovec export (cvmm/vq/rw.h) then work from the
 *  snapshot only: what a device validated is what it uses, and totals never change after the snapshot.
 *
 *      vq_chain c;  vq_snapshot_buf sb;  int rc;
 *      while ((rc = vq_pop(q, &c)) == 1) {
 *          if ((rc = vq_snapshot_take_buf(q, &c, &sb)) == -ENOSPC) { vq_add_used(q, c.head, 0); continue; }
 *          if (rc < 0) break;                           (-EIO: the queue is broken)
 *          vq_reader r;  vq_reader_init(&r, &sb.snap);  ... sb.snap.readable is the readable total ...
 *      }
 *
 *  Capacity: the caller passes an array of @cap entries (the hot path never allocates).  A chain with
 *  more descriptors is refused with -ENOSPC without breaking the queue; the chain stays popped and
 *  unchanged, so the caller may snapshot it again into a larger array or give it back with
 *  vq_add_used(len 0).  vq_snapshot_buf holds VQ_SNAPSHOT_BUF_DESCS entries for the common case (a chain
 *  of at most 64 descriptors, 1.5 KiB); a device that announces a larger seg_max passes its own array
 *  (a chain is at most size + 65536 descriptors long: queue size before an indirect table plus the table).
 *
 *  Threads: owner (cvmm/vq/queue.h), like the queue the snapshot was taken from. */
#ifndef CVMM_VQ_SNAPSHOT_H
#define CVMM_VQ_SNAPSHOT_H

#include <stdint.h>

#include "cvmm/vq/chain.h"
#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vq_snapshot - one chain's validated descriptors (caller-allocated; fill it with vq_snapshot_take()).
 *  desc[0 .. nread) are the device-readable buffers in chain order, desc[nread .. ndesc) the writable
 *  ones.  Zero-length buffers are kept (hva NULL).  An INDIRECT descriptor is not an entry itself: the
 *  entries of its table are.  desc[i].hva is valid until vq_queue_set_map(); Reader/Writer translate the
 *  validated gpa/len again after a map change, direct users of desc[] take a new snapshot instead. */
typedef struct vq_snapshot {
    const vq_desc_info *desc; /* read-only: the caller's storage, filled */
    uint32_t ndesc;           /* read-only: entries filled */
    uint32_t nread;           /* read-only: readable entries (they come first) */
    uint32_t readable;        /* read-only: bytes in the readable entries */
    uint32_t writable;        /* read-only: bytes in the writable entries; readable + writable < 4 GiB */
    uint16_t head;            /* read-only: vq_chain.head, for vq_add_used() */
    struct {
        vq_queue *q;  /* the queue the chain came from (borrowed) */
        uint32_t gen; /* queue map generation of desc[].hva */
    } priv;           /* private */
} vq_snapshot;

/** vq_snapshot_take() - read every descriptor of @c once, validate, translate and store it in @desc.
 *  @c must come straight from vq_pop() (not walked by vq_chain_next() yet); it is not changed.
 *  Return: 0 (*s filled); -ENOSPC the chain has more than @cap descriptors (the queue is not broken, *s
 *  is unspecified, @c may be snapshot again or returned as used); -EIO broken (any rule of
 *  cvmm/vq/chain.h, logged once); -EPROTO the queue is not running; -EINVAL @desc NULL with @cap > 0.
 *  Ownership: borrows @q and @desc; s->desc points into @desc, so the snapshot and every Reader/Writer made
 *  from it are valid while @desc lives and the queue lives.  Threads: owner. */
int vq_snapshot_take(vq_queue *q, const vq_chain *c, vq_desc_info *desc, uint32_t cap, vq_snapshot *s);

/** Entries of a vq_snapshot_buf: enough for most devices (virtio-net, virtio-rng, small block requests). */
#define VQ_SNAPSHOT_BUF_DESCS 64u

/** vq_snapshot_buf - a snapshot with its own storage for VQ_SNAPSHOT_BUF_DESCS descriptors.
 *  snap.desc points into the same object: do not copy a filled vq_snapshot_buf (a copy would point at
 *  the original's entries); take a new snapshot instead. */
typedef struct vq_snapshot_buf {
    vq_snapshot snap;                         /* the snapshot; snap.desc points at @desc */
    vq_desc_info desc[VQ_SNAPSHOT_BUF_DESCS]; /* its storage */
} vq_snapshot_buf;

/** vq_snapshot_take_buf() - vq_snapshot_take() into @b's own storage.  Return: as vq_snapshot_take().
 *  Ownership: borrows @q; b->snap is valid while @b lives.  Threads: owner. */
static inline int vq_snapshot_take_buf(vq_queue *q, const vq_chain *c, vq_snapshot_buf *b)
{
    return vq_snapshot_take(q, c, b->desc, VQ_SNAPSHOT_BUF_DESCS, &b->snap);
}

#ifdef __cplusplus
}
#endif
#endif
