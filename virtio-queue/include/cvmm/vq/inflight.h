/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq/inflight.h - inflight I/O tracking: what was popped and not yet used survives a crash.
 *
 *  vhost-user's VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD (spec section "Inflight I/O tracking"): the back-end
 *  keeps, in a buffer the front-end holds on to (GET/SET_INFLIGHT_FD), one region per queue in which it
 *  records every chain it pops and clears it when the chain is used.  A back-end that restarts after a
 *  crash gets the buffer back and resubmits what was in flight.  This header is that region for one
 *  vq_queue, split and packed, in the spec's layout (QueueRegionSplit / QueueRegionPacked, native byte
 *  order, as QEMU, DPDK and libvhost-user lay it out).
 *
 *      vq_inflight_attach(q, region, bytes);   (queue stopped; the region outlives the attachment)
 *      vq_queue_set_ready(q, true);            (validates the region, rebuilds the ring position)
 *      while (vq_pop(q, &c) == 1) ...          (first the recovered chains, oldest first, then new ones)
 *
 *  Recording.  While a region is attached and the queue runs, vq_pop() records the chain and
 *  vq_add_used() / vq_add_used_batch() clear it, in the spec's order, so that a crash at any instruction
 *  leaves a region from which the spec's "When reconnecting" steps recover: split: the counter, then
 *  inflight = 1; on completion the batch list (desc[i].next, last_batch_head), the used ring (published
 *  by its used->idx store), inflight = 0, then used_idx.  Packed: the head entry (num, counter, then
 *  inflight = 1), each descriptor into the free list's next entry (desc[].addr/len/flags/id, free_head),
 *  then old_free_head commits the pop; on completion the entries go back to the free list (desc[last].next,
 *  free_head), used_idx/used_wrap_counter move, the used descriptor is published, inflight = 0, then
 *  old_free_head and old_used_idx/old_used_wrap_counter commit.  used_idx, old_used_idx and both wrap
 *  counters share one aligned 8-byte word, written with one store, so the "old" pair never mixes an old
 *  index with a new wrap counter.  A packed free list must have been formatted by vq_inflight_format()
 *  (desc[i].next = i + 1, wrap counters 1): vhost-user-backend does it when it answers GET_INFLIGHT_FD.
 *
 *  Recovery (vq_queue_set_ready(q, true) with a region attached).  The region is front-end memory and is
 *  checked before use: version 0 (never used) or 1, desc_num at least the ring's size and inside the
 *  region, every index followed (heads, next links, free list, last) < desc_num, lists of 1..size
 *  entries, buffer ids < size and unique, the free list and batch list finite, positions < size.  Any
 *  violation logs one line ("vq<n>: inflight region: <what>") and the queue does not start.  A region in
 *  which nothing was ever recorded (every counter 0, nothing in flight) is formatted afresh and takes the
 *  ring position from SET_VRING_BASE / the used ring (a new buffer, or migration).  Otherwise the ring
 *  position comes from the region and the used ring, whatever SET_VRING_BASE said (QEMU 7.2 rewinds a
 *  split ring to used->idx after a crash, and sends a stale position for packed rings):
 *    - split: the last batch is settled as the spec says (used_idx against used->idx), the next avail
 *      index is used->idx + the number of heads in flight;
 *    - packed: an unfinished completion is committed if its first used descriptor reached the ring and
 *      rolled back otherwise, an unfinished pop is rolled back (old_free_head), every free entry is
 *      marked not in flight; the used position is the region's, the avail position lies the in-flight
 *      lists' descriptors further on.
 *  The chains in flight are then given out by vq_pop() before any new chain, in the order they were
 *  first popped (their counters); they stay recorded until used, so a second crash resubmits them again.
 *  Packed lists are walked from the descriptors saved in the region (the ring slots may hold used
 *  descriptors by now); split chains from the descriptor table.  Every chain rule of cvmm/vq/chain.h
 *  applies to them as to new chains.
 *
 *  Threads: owner (cvmm/vq/queue.h).  The front-end must not write the region while the queue runs. */
#ifndef CVMM_VQ_INFLIGHT_H
#define CVMM_VQ_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "cvmm/compiler.h"
#include "cvmm/vq/queue.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The region version this library writes and reads (0: never initialised). */
#define VQ_INFLIGHT_VERSION 1u

/** QueueRegionSplit without its desc[] (16 bytes; desc[] follows at VQ_INFLIGHT_SPLIT_HDR). */
typedef struct vq_inflight_split_hdr {
    uint64_t features;        /* 0 */
    uint16_t version;         /* VQ_INFLIGHT_VERSION */
    uint16_t desc_num;        /* entries of desc[] */
    uint16_t last_batch_head; /* head of the list of the last batch of used heads */
    uint16_t used_idx;        /* used->idx after the last completed batch */
} vq_inflight_split_hdr;

/** DescStateSplit: one per descriptor table entry (16 bytes). */
typedef struct vq_inflight_split_desc {
    uint8_t inflight;   /* 1: this head is in flight */
    uint8_t padding[5]; /* zero */
    uint16_t next;      /* batch list link */
    uint64_t counter;   /* pop order */
} vq_inflight_split_desc;

/** QueueRegionPacked without its desc[] (32 bytes; desc[] follows at VQ_INFLIGHT_PACKED_HDR). */
typedef struct vq_inflight_packed_hdr {
    uint64_t features;             /* 0 */
    uint16_t version;              /* VQ_INFLIGHT_VERSION */
    uint16_t desc_num;             /* entries of desc[] */
    uint16_t free_head;            /* first free entry; desc_num: none */
    uint16_t old_free_head;        /* free_head when the last pop or completion committed */
    uint16_t used_idx;             /* next used position */
    uint16_t old_used_idx;         /* used_idx when the last completion committed */
    uint8_t used_wrap_counter;     /* wrap counter of used_idx */
    uint8_t old_used_wrap_counter; /* and of old_used_idx */
    uint8_t padding[10];           /* 7 in the spec, then the 8-byte alignment of desc[] */
} vq_inflight_packed_hdr;

/** DescStatePacked: one entry per descriptor held (32 bytes). */
typedef struct vq_inflight_packed_desc {
    uint8_t inflight; /* head entry: 1 while the list is in flight */
    uint8_t padding;  /* zero */
    uint16_t next;    /* next entry of the list, or of the free list */
    uint16_t last;    /* head entry: the entry of the list's last descriptor */
    uint16_t num;     /* head entry: descriptors in the list */
    uint64_t counter; /* head entry: pop order */
    uint16_t id;      /* the descriptor as it was in the ring (native byte order) */
    uint16_t flags;   /* the descriptor's flags, as in the ring */
    uint32_t len;     /* the descriptor's length */
    uint64_t addr;    /* the descriptor's guest address */
} vq_inflight_packed_desc;

#define VQ_INFLIGHT_SPLIT_HDR 16u
#define VQ_INFLIGHT_PACKED_HDR 32u
CVMM_STATIC_ASSERT(sizeof(vq_inflight_split_hdr) == VQ_INFLIGHT_SPLIT_HDR, "QueueRegionSplit header is 16 bytes");
CVMM_STATIC_ASSERT(sizeof(vq_inflight_split_desc) == 16, "DescStateSplit is 16 bytes");
CVMM_STATIC_ASSERT(sizeof(vq_inflight_packed_hdr) == VQ_INFLIGHT_PACKED_HDR, "QueueRegionPacked header is 32 bytes");
CVMM_STATIC_ASSERT(sizeof(vq_inflight_packed_desc) == 32, "DescStatePacked is 32 bytes");

/** vq_inflight_bytes() - bytes of one queue's region with @desc_num entries (header + desc[]), unaligned.
 *  Threads: any. */
uint64_t vq_inflight_bytes(enum vq_layout layout, uint32_t desc_num);

/** vq_inflight_format() - make [region, region + size) a fresh region for @desc_num entries: version 1,
 *  nothing in flight; packed: every entry on the free list (desc[i].next = i + 1), wrap counters 1.
 *  Return: 0; -EINVAL bad layout, @desc_num 0 or > VQ_MAX_SIZE, @region NULL or not 8-byte aligned, or
 *  @size smaller than vq_inflight_bytes().  Ownership: borrows @region.  Threads: any. */
int vq_inflight_format(void *region, size_t size, enum vq_layout layout, uint32_t desc_num);

/** vq_inflight_attach() - track @q's chains in [region, region + size) from the next start on, in the
 *  layout the queue has then (the region is only read when vq_queue_set_ready() starts the queue, see
 *  the header).  NULL detaches (allowed at any time; recording stops at once).  vq_queue_reset() detaches.
 *  Return: 0; -EINVAL @region not 8-byte aligned or @size below a header; -EBUSY attaching while the queue
 *  is ready; -ENOMEM.  Ownership: borrows @region, which must stay mapped until detached or the queue is
 *  freed.  Threads: owner. */
int vq_inflight_attach(vq_queue *q, void *region, size_t size);

/** vq_inflight_pending() - recovered chains vq_pop() has not given out yet.  Threads: owner. */
uint32_t vq_inflight_pending(const vq_queue *q);

#ifdef __cplusplus
}
#endif
#endif
