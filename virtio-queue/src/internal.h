/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** src/internal.h - private to cvmm-virtio-queue: the queue object and helpers shared by its files. */
#ifndef CVMM_VQ_INTERNAL_H
#define CVMM_VQ_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cvmm/checked.h"
#include "cvmm/compiler.h"
#include "cvmm/log.h"
#include "cvmm/vmem/atomic.h"
#include "cvmm/vmem/map.h"
#include "cvmm/vq/chain.h"
#include "cvmm/vq/queue.h"

/* vq_queue.run: what the hot path may do; anything but these means "not running" (see vq__not_running). */
enum { VQ__RUN_NONE = 0, VQ__RUN_SPLIT = 1, VQ__RUN_PACKED = 2 };

/* vq_chain.priv.mode */
enum {
    VQ__WALK_DONE = 0,
    VQ__WALK_SPLIT,
    VQ__WALK_SPLIT_IND,
    VQ__WALK_PACKED,
    VQ__WALK_PACKED_IND,
    VQ__WALK_PACKED_ONE,
    VQ__WALK_PACKED_SAVED /* packed list resubmitted from the inflight region's copy (private table) */
};

/* Packed in-flight table entry: bit 15 in flight, bits 0-14 descriptors - 1. */
#define VQ__INFLIGHT 0x8000u

/* Indirect tables larger than this cannot be reached by 16-bit next fields; refused. */
#define VQ__MAX_INDIRECT 65536u

struct vq__region_cache {
    uint64_t gpa, size; /* size 0: empty */
    uint8_t *hva;
    bool ro;
};

struct vq_queue {
    /* hot: read on every pop / add_used */
    uint8_t run; /* VQ__RUN_* : ready, mapped, not broken, and which layout */
    bool event_idx;
    bool avail_wrap;       /* packed: driver ring wrap counter expected next */
    bool used_wrap;        /* packed: device ring wrap counter for the next used write */
    uint16_t avail_expect; /* packed: AVAIL|USED bits of an available descriptor (from avail_wrap) */
    uint16_t used_bits;    /* packed: AVAIL|USED bits of a used descriptor (from used_wrap) */
    uint16_t mask;         /* split: size - 1 */
    uint16_t next_avail;   /* split: free-running; packed: position */
    uint16_t shadow_avail; /* split: last avail->idx read */
    uint16_t next_used;    /* split: free-running; packed: position */
    uint32_t size;
    uint32_t gen;  /* bumped whenever cached host pointers change */
    uint8_t *desc; /* cached host pointers of the three areas */
    uint8_t *driver;
    uint8_t *device;
    vmem_log *dlog; /* the map's dirty log, NULL when logging is off */
    const vmem_map *map;
    struct vq__region_cache rc[2];
    uint16_t *inflight; /* packed: per buffer id, VQ__INFLIGHT | (ndesc - 1), 0 when not in flight */
    uint64_t desc_gpa, driver_gpa, device_gpa, log_gpa;
    uint16_t signalled_used; /* split: used idx; packed: linear position (see packed.c) */
    bool signalled_valid;
    /* control */
    uint8_t layout;
    bool addrs_set, mapped, ready, enabled, broken;
    uint32_t max_size;
    vq_queue_config cfg;
    const struct cvmm_log *log;
    unsigned index;
    /* inflight tracking (inflight.c, cvmm/vq/inflight.h) */
    bool ifl_on;                 /* hot: recording (region attached, queue ready) */
    uint8_t *ifl;                /* the attached region, or NULL */
    size_t ifl_size;             /* its bytes */
    uint16_t ifl_desc_num;       /* validated when the queue started */
    uint16_t ifl_free;           /* packed: free_head as we wrote it */
    uint16_t ifl_old_free;       /* packed: old_free_head as we wrote it */
    uint16_t ifl_last_batch;     /* split: last_batch_head as we wrote it */
    uint64_t ifl_counter;        /* next counter */
    uint16_t *ifl_entry;         /* packed: buffer id -> head entry (max_size) */
    struct vq__resub *ifl_resub; /* recovered chains, oldest first (max_size) */
    uint8_t *ifl_saved;          /* packed: their descriptors in ring layout (16 * max_size bytes) */
    uint32_t ifl_nresub, ifl_next_resub;
    /* Test-only crash-point probe (the tests' *_internal.c suites): called at each numbered step of recording. */
    void (*ifl_probe)(void *arg, unsigned step);
    void *ifl_probe_arg;
};

/* One recovered chain (inflight.c). */
struct vq__resub {
    uint64_t counter;
    uint32_t off; /* packed: first descriptor in ifl_saved */
    uint16_t id;  /* split head / packed buffer id */
    uint16_t num; /* packed: descriptors */
};

/* The numbered steps of recording, in execution order (the probe gets them). */
enum {
    VQ__IFL_SPLIT_POPPED = 1, /* popped, nothing recorded */
    VQ__IFL_SPLIT_COUNTED,    /* counter written */
    VQ__IFL_SPLIT_RECORDED,   /* inflight = 1 */
    VQ__IFL_SPLIT_LINKED,     /* one head put on the batch list */
    VQ__IFL_SPLIT_PUBLISHED,  /* used->idx stored */
    VQ__IFL_SPLIT_CLEARED,    /* one head's inflight = 0 */
    VQ__IFL_SPLIT_DONE,       /* used_idx stored */
    VQ__IFL_PACKED_POPPED,    /* popped, nothing recorded */
    VQ__IFL_PACKED_COUNTED,   /* head entry num and counter */
    VQ__IFL_PACKED_HEAD,      /* head entry inflight = 1 */
    VQ__IFL_PACKED_DESC,      /* one descriptor saved, free_head moved */
    VQ__IFL_PACKED_RECORDED,  /* old_free_head stored */
    VQ__IFL_PACKED_RELINKED,  /* one list back on the free list */
    VQ__IFL_PACKED_USED_IDX,  /* used_idx / used_wrap_counter stored */
    VQ__IFL_PACKED_PUBLISHED, /* the used descriptors published */
    VQ__IFL_PACKED_CLEARED,   /* one head's inflight = 0 */
    VQ__IFL_PACKED_OLD_FREE,  /* old_free_head stored */
    VQ__IFL_PACKED_DONE,      /* old_used_idx / old_used_wrap_counter stored */
    VQ__IFL_STEPS
};

/** vq__fail() - the driver broke a ring rule: log once, mark broken, return -EIO. */
int vq__fail(vq_queue *q, const char *fmt, ...) CVMM_PRINTF(2, 3) __attribute__((cold));

/** vq__not_running() - the errno for a hot-path call on a queue that is not running as @layout_run. */
int vq__not_running(const vq_queue *q, uint8_t layout_run) __attribute__((cold));

/** vq__translate_slow() - region lookup behind the cache.  Return: 0; -EFAULT; -EPERM (write, read-only). */
int vq__translate_slow(vq_queue *q, uint64_t gpa, uint64_t len, bool write, uint8_t **hva);

/** vq__translate() - host pointer for guest [gpa, gpa+len), len > 0, inside one region. */
static inline int vq__translate(vq_queue *q, uint64_t gpa, uint64_t len, bool write, uint8_t **hva)
{
    const struct vq__region_cache *c = &q->rc[0];
    if (CVMM_LIKELY(cvmm_range_in(gpa, len, c->gpa, c->size) && !(write && c->ro))) {
        *hva = c->hva + (gpa - c->gpa);
        return 0;
    }
    c = &q->rc[1];
    if (cvmm_range_in(gpa, len, c->gpa, c->size) && !(write && c->ro)) {
        *hva = c->hva + (gpa - c->gpa);
        return 0;
    }
    return vq__translate_slow(q, gpa, len, write, hva);
}

/** vq__mark() - mark guest [gpa, gpa+len) dirty when the map has a log. */
static inline void vq__mark(const vq_queue *q, uint64_t gpa, uint64_t len)
{
    if (CVMM_UNLIKELY(q->dlog != NULL))
        (void)vmem_map_mark_dirty(q->map, gpa, len);
}

/** vq__chain_collect() - walk the rest of @c into desc[0..cap) (vq_chain_next() inlined: the snapshot's
 *  loop).  Return: 0 (*n entries); -ENOSPC more than @cap descriptors; -EIO / -EPROTO as vq_chain_next(). */
int vq__chain_collect(vq_queue *q, vq_chain *c, vq_desc_info *desc, uint32_t cap, uint32_t *n);

/* Layout implementations without the run check (split.c, packed.c); the public vq_split_* / vq_packed_*
 * functions and the generic dispatch in queue.c call them. */
int vq__split_pop_raw(vq_queue *q, vq_chain *c);
int vq__split_add_used_raw(vq_queue *q, uint16_t head, uint32_t len);
int vq__split_add_used_batch_raw(vq_queue *q, const vq_used_elem *e, unsigned n);
bool vq__split_needs_notify(vq_queue *q);
int vq__split_enable_notification(vq_queue *q);
void vq__split_disable_notification(vq_queue *q);
int vq__packed_pop_raw(vq_queue *q, vq_chain *c);
int vq__packed_add_used_raw(vq_queue *q, uint16_t id, uint32_t len);
int vq__packed_add_used_batch_raw(vq_queue *q, const vq_used_elem *e, unsigned n);

/* inflight.c: the tracked pop and completion (either layout), recovery when the queue starts, the end of
 * tracking when it stops. */
int vq__ifl_pop(vq_queue *q, vq_chain *c);
int vq__ifl_add_used_batch(vq_queue *q, const vq_used_elem *e, unsigned n);
int vq__ifl_start(vq_queue *q);
void vq__ifl_free(vq_queue *q);

/* The layout implementations as the dispatchers call them: tracked while a region is attached. */
static inline int vq__split_pop(vq_queue *q, vq_chain *c)
{
    return CVMM_UNLIKELY(q->ifl_on) ? vq__ifl_pop(q, c) : vq__split_pop_raw(q, c);
}
static inline int vq__packed_pop(vq_queue *q, vq_chain *c)
{
    return CVMM_UNLIKELY(q->ifl_on) ? vq__ifl_pop(q, c) : vq__packed_pop_raw(q, c);
}
static inline int vq__split_add_used(vq_queue *q, uint16_t head, uint32_t len)
{
    if (CVMM_UNLIKELY(q->ifl_on))
        return vq__ifl_add_used_batch(q, &(vq_used_elem){.head = head, .len = len}, 1);
    return vq__split_add_used_raw(q, head, len);
}
static inline int vq__packed_add_used(vq_queue *q, uint16_t id, uint32_t len)
{
    if (CVMM_UNLIKELY(q->ifl_on))
        return vq__ifl_add_used_batch(q, &(vq_used_elem){.head = id, .len = len}, 1);
    return vq__packed_add_used_raw(q, id, len);
}
static inline int vq__split_add_used_batch(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    return CVMM_UNLIKELY(q->ifl_on) ? vq__ifl_add_used_batch(q, e, n) : vq__split_add_used_batch_raw(q, e, n);
}
static inline int vq__packed_add_used_batch(vq_queue *q, const vq_used_elem *e, unsigned n)
{
    return CVMM_UNLIKELY(q->ifl_on) ? vq__ifl_add_used_batch(q, e, n) : vq__packed_add_used_batch_raw(q, e, n);
}

/** vq__split_chain_start() - @c walks the chain at descriptor table entry @head (< size) from the start. */
static inline void vq__split_chain_start(vq_queue *q, vq_chain *c, uint16_t head)
{
    c->head = head;
    c->ndesc = 1;
    c->priv.table = q->desc;
    c->priv.table_gpa = q->desc_gpa;
    c->priv.total = 0;
    c->priv.gen = q->gen;
    c->priv.tsize = q->size;
    c->priv.next = head;
    c->priv.ttl = q->size;
    c->priv.mode = VQ__WALK_SPLIT;
    c->priv.writing = false;
}
bool vq__packed_needs_notify(vq_queue *q);
int vq__packed_enable_notification(vq_queue *q);
void vq__packed_disable_notification(vq_queue *q);

#define VQ__AVAIL_USED ((1u << 7) | (1u << 15))

/** vq__packed_sync_wrap() - recompute the cached flag patterns after a wrap counter changed. */
static inline void vq__packed_sync_wrap(vq_queue *q)
{
    q->avail_expect = q->avail_wrap ? (1u << 7) : (1u << 15);
    q->used_bits = q->used_wrap ? VQ__AVAIL_USED : 0;
}

/** vq__packed_is_avail() - does descriptor flags @f mark an available descriptor for the queue? */
static inline bool vq__packed_is_avail(const vq_queue *q, uint16_t f)
{
    return (f & VQ__AVAIL_USED) == q->avail_expect;
}

/** vq__packed_outstanding() - descriptors between the used and the avail position (the wrap counters give
 * the lap), in [0, 2 * size): the descriptors the device has taken and not yet returned.  A running ring
 * keeps it <= size (the pop refuses a list that would overrun descriptors still in use). */
static inline uint32_t vq__packed_outstanding(const vq_queue *q)
{
    uint32_t a = q->next_avail + (q->avail_wrap ? 0u : q->size), u = q->next_used + (q->used_wrap ? 0u : q->size);
    return a >= u ? a - u : a + 2u * q->size - u;
}

/* A 16-byte descriptor read once into locals (chain walks, inflight recording).  Split: id_next is next;
 * packed: id. */
struct vq__raw_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t id_next;
    uint16_t flags;
};

static inline void vq__read_desc(const uint8_t *p, bool packed, struct vq__raw_desc *d)
{
    uint8_t b[16];
    memcpy(b, p, sizeof(b)); /* one copy of the guest's bytes; only the copy is looked at */
    uint64_t a;
    uint32_t l;
    uint16_t x, y;
    memcpy(&a, b, 8);
    memcpy(&l, b + 8, 4);
    memcpy(&x, b + 12, 2);
    memcpy(&y, b + 14, 2);
    d->addr = cvmm_le64_to_cpu(a);
    d->len = cvmm_le32_to_cpu(l);
    /* split: flags at 12, next at 14; packed: id at 12, flags at 14 */
    d->flags = packed ? cvmm_le16_to_cpu(y) : cvmm_le16_to_cpu(x);
    d->id_next = packed ? cvmm_le16_to_cpu(x) : cvmm_le16_to_cpu(y);
}

/** vq__prefetch_buf() - start loading the first bytes (at most two cache lines) of guest buffer
 *  [gpa, gpa+len) when it lies in the first cached region, so that the device's read of the next chain's
 *  header or frame (written by the driver's CPU) finds them in cache.  A hint only: nothing is read, and
 *  a buffer outside the cache or of length 0 is skipped; the chain walk validates the buffer later. */
static inline void vq__prefetch_buf(const vq_queue *q, uint64_t gpa, uint32_t len)
{
    const struct vq__region_cache *c = &q->rc[0];
    if (len != 0 && cvmm_range_in(gpa, len, c->gpa, c->size)) {
        const uint8_t *p = c->hva + (gpa - c->gpa);
        __builtin_prefetch(p, 0, 3);
        __builtin_prefetch(p + (len < 128 ? len - 1 : 127), 0, 3); /* the line the copy ends in, or the 2nd */
    }
}

#endif
