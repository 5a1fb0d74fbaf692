/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/chain.h - popping descriptor chains, walking them, and returning them as used.
 *
 *  The hot loop of a device, for either layout:
 *      vq_chain c;  vq_desc_info d;  int rc;
 *      while ((rc = vq_pop(q, &c)) == 1) {
 *          while ((rc = vq_chain_next(q, &c, &d)) == 1) { ...use d.hva / d.len / d.write... }
 *          if (rc < 0) break;                             (the queue is broken)
 *          vq_add_used(q, c.head, written);
 *      }
 *  Both cursors are caller-allocated values: pop and walk never allocate.  Devices normally take a
 *  vq_snapshot (cvmm/vq/snapshot.h) right after vq_pop() instead of walking by hand: it reads each
 *  descriptor once, and Reader/Writer work from it.  The walker enforces every
 *  chain rule of the virtio spec and turns any violation into a broken queue (-EIO):
 *    - split: head and next indices < size; at most `size` descriptors before an indirect table and at
 *      most the table's entries inside it, so loops end; INDIRECT together with NEXT refused; zero or more
 *      direct descriptors may precede one indirect descriptor;
 *    - packed: at most `size` descriptors in a list; INDIRECT only on a list of one descriptor;
 *    - indirect tables: non-zero multiple of 16 bytes, at most 65536 entries, inside one region, never
 *      nested (INDIRECT inside a table refused);
 *    - device-readable descriptors before device-writable ones; the chain's total length fits 32 bits;
 *    - every buffer of non-zero length lies inside one guest memory region (writable buffers in a
 *      writable one).  Zero-length buffers are yielded with hva NULL and never translated.
 *  Threads: owner (cvmm/vq/queue.h). */
#ifndef CVMM_VQ_CHAIN_H
#define CVMM_VQ_CHAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Descriptor flags, both layouts (packed rings add VQ_DESC_F_AVAIL / VQ_DESC_F_USED). */
#define VQ_DESC_F_NEXT 1u
#define VQ_DESC_F_WRITE 2u
#define VQ_DESC_F_INDIRECT 4u

/** vq_chain - one available chain being walked (caller-allocated; fill it with vq_pop()). */
typedef struct vq_chain {
    uint16_t head;  /* read-only.  split: head descriptor index; packed: buffer id.  For vq_add_used(). */
    uint16_t ndesc; /* read-only.  packed: ring descriptors of the list (an indirect one counts once);
                     * split: 1 (the chain's length is only known once walked) */
    struct {
        const uint8_t *table; /* host address of the descriptor table walked now (ring or indirect) */
        uint64_t table_gpa;   /* its guest address, to re-translate after vq_queue_set_map() */
        uint64_t total;       /* bytes yielded so far */
        uint32_t gen;         /* queue map generation @table belongs to */
        uint32_t tsize;       /* entries in the table */
        uint32_t next;        /* next entry to read */
        uint32_t ttl;         /* entries still allowed before the walk counts as a loop */
        uint64_t one_addr;    /* packed list of one descriptor: that descriptor, read by vq_pop() */
        uint32_t one_len;
        uint16_t one_flags;
        uint8_t mode; /* which table and how to step (private) */
        bool writing; /* a device-writable descriptor was seen */
    } priv;           /* private: the walker's position */
} vq_chain;

/** vq_desc_info - one buffer of a chain, as vq_chain_next() yields it (validated values). */
typedef struct vq_desc_info {
    uint64_t gpa; /* guest physical address */
    void *hva;    /* host address of [gpa, gpa+len); NULL when len is 0.  Valid until vq_queue_set_map(). */
    uint32_t len; /* bytes */
    bool write;   /* device-writable (VIRTQ_DESC_F_WRITE) */
} vq_desc_info;

/** vq_used_elem - one entry for vq_add_used_batch(). */
typedef struct vq_used_elem {
    uint16_t head; /* vq_chain.head of a popped chain */
    uint32_t len;  /* bytes the device wrote into the chain's writable buffers */
} vq_used_elem;

/** vq_pop() - take the next available chain.  Split: one load-acquire of avail->idx when the cached copy
 *  is used up, then the head index.  Packed: load-acquire of the next descriptor's flags, then the list's
 *  extent and buffer id.  The descriptors themselves are read by vq_chain_next().
 *  Return: 1 popped (*c filled); 0 nothing available; -EIO broken (an avail index more than size ahead,
 *  a head >= size, a packed list longer than size or with an id >= size); -EPROTO not ready or no map.
 *  Ownership: *c borrows the queue; it stays walkable while the queue lives.  Threads: owner. */
int vq_pop(vq_queue *q, vq_chain *c);

/** vq_chain_next() - the next buffer of @c: the raw walk.  Reads the next descriptor from guest memory
 *  once into a local and validates it; *out holds only validated values.  Each call reads guest memory,
 *  and a copy of @c walks the descriptors again: the guest may have changed them in between (another
 *  vCPU), so two walks of one chain can disagree.  Anything that is measured or checked and then used
 *  (lengths, totals, iovecs) must come from ONE walk: take a vq_snapshot (cvmm/vq/snapshot.h) and use the
 *  Reader/Writer (cvmm/vq/rw.h) over it.  Return: 1 (*out filled); 0 end of chain; -EIO broken (any rule
 *  above; logged once); -EPROTO the queue is not running.  Threads: owner. */
int vq_chain_next(vq_queue *q, vq_chain *c, vq_desc_info *out);

/** vq_add_used() - return chain @head with @len bytes written: split writes used->ring[] then
 *  store-releases used->idx; packed writes id and len and store-releases the descriptor's flags last,
 *  then skips the chain's descriptors.  Marks the written ring bytes dirty when the map has a log.
 *  Return: 0; -EINVAL @head >= size (packed: or not popped); -EIO broken; -EPROTO not ready.
 *  Threads: owner. */
int vq_add_used(vq_queue *q, uint16_t head, uint32_t len);

/** vq_add_used_batch() - return @n chains, publishing once: split writes every element then one
 *  store-release of used->idx; packed writes every descriptor but the first one's flags, then
 *  store-releases the first one's flags.  Return: 0 (n 0 does nothing); as vq_add_used(), checked for all
 *  elements before anything is written.  Threads: owner. */
int vq_add_used_batch(vq_queue *q, const vq_used_elem *elems, unsigned n);

#ifdef __cplusplus
}
#endif
#endif
