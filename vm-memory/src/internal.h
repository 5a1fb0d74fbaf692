/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** vm-memory/src/internal.h - private layout of regions, maps and logs, shared by the library's files.
 *
 *  The hot path (vmem_read(), the typed accesses, vmem_map_translate()) works on struct vmem_slot: a
 *  compact copy of each region's guest range and host address kept in a sorted array inside the map, so a
 *  lookup touches one contiguous array and never dereferences a region. */
#ifndef CVMM_VMEM_INTERNAL_H
#define CVMM_VMEM_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvmm/checked.h"
#include "cvmm/compiler.h"
#include "cvmm/log.h"
#include "cvmm/vmem/log.h"
#include "cvmm/vmem/map.h"
#include "cvmm/vmem/region.h"

struct vmem_region {
    atomic_uint refs;
    uint32_t flags;          /* VMEM_REGION_* */
    uint64_t gpa, size, user_addr, mmap_offset;
    uint8_t *hva;            /* host address of the byte at gpa */
    void *map_base;          /* what mmap returned */
    size_t map_len;          /* what was mapped */
    int fd;                  /* owned, -1 for anonymous memory */
    const struct cvmm_log *log;
};

/** One region as the lookup sees it: [gpa, last] inclusive (a region may end at 2^64 - 1). */
struct vmem_slot {
    uint64_t gpa;
    uint64_t last;
    uint8_t *hva;
    uintptr_t tag; /* the vmem_region pointer, | 1 if the region is read-only */
};

static CVMM_ALWAYS_INLINE bool vmem__slot_ro(const struct vmem_slot *s) { return s->tag & 1u; }
static CVMM_ALWAYS_INLINE vmem_region *vmem__slot_region(const struct vmem_slot *s)
{
    return (vmem_region *)(s->tag & ~(uintptr_t)1);
}

/** One bucket of the lookup table: the slots that can hold an address of the bucket are
 *  slots[lo .. lo + extra] (the last one whose gpa <= the address is the candidate). */
struct vmem_bucket {
    uint16_t lo, extra;
};

/** Largest lookup table (buckets); 4 buckets per region (at least 8) up to that. */
#define VMEM__BUCKETS_MAX 4096u

struct vmem_map {
    size_t n;
    uint64_t base;           /* slots[0].gpa */
    uint32_t nb;             /* buckets (a power of two), 0 for an empty map */
    uint32_t shift;          /* bucket of gpa: (gpa - base) >> shift */
    const struct vmem_bucket *tab;
    vmem_region **regions;   /* n entries, parallel to slots, sorted by gpa */
    vmem_log *dlog;          /* NULL: logging off */
    const struct cvmm_log *log;
    struct vmem_slot slots[]; /* n entries, then the regions array, then the nb buckets */
};

/** vmem__slot_in() - does slot @s contain @gpa?  (Cannot wrap: a slot is at most 2^64 - 1 bytes.) */
static CVMM_ALWAYS_INLINE bool vmem__slot_in(const struct vmem_slot *s, uint64_t gpa)
{
    return gpa - s->gpa <= s->last - s->gpa;
}

/** vmem__slot_find() - the slot containing @gpa, or NULL.
 *  The bucket of @gpa in the map's table (the guest-physical span of the map cut into nb equal
 *  power-of-two buckets) names the one or few slots that can hold it, so a lookup is two dependent loads
 *  whatever the number of regions; buckets that several regions share fall back to a branch-free binary
 *  search among them.  Costs are in benches/vm-memory.c (mem_find_region_256, mem_read_u64). */
static CVMM_ALWAYS_INLINE const struct vmem_slot *vmem__slot_find(const vmem_map *m, uint64_t gpa)
{
    const struct vmem_slot *s = m->slots;
    uint64_t b = (gpa - m->base) >> m->shift; /* gpa < base wraps: any bucket, the final check refuses */
    if (CVMM_UNLIKELY(b >= m->nb)) /* always for an empty map (nb 0) */
        return NULL;
    struct vmem_bucket e = m->tab[b];
    s += e.lo;
    if (CVMM_UNLIKELY(e.extra != 0)) {
        /* The last slot in s[0 .. extra] whose gpa <= @gpa. */
        size_t n = (size_t)e.extra + 1;
        while (n > 1) {
            size_t half = n / 2;
            s = s[half].gpa <= gpa ? s + half : s;
            n -= half;
        }
    }
    return vmem__slot_in(s, gpa) ? s : NULL;
}

struct vmem_log {
    atomic_uint refs;
    atomic_bool warned;      /* the "log too small" line was written */
    uint8_t *bits;
    uint64_t size;           /* bytes of bitmap */
    uint64_t pages;          /* pages the bitmap covers: size * 8, saturated */
    void *map_base;
    size_t map_len;
    const struct cvmm_log *log;
};

/** vmem__map_fault() - log a failed guest access at DEBUG (callers probe; the virtqueue logs once).
 *  Return: @rc, so that fast paths end in a tail call. */
__attribute__((cold)) int vmem__map_fault(const vmem_map *m, const char *op, uint64_t gpa, uint64_t len, int rc);

/** vmem__mmap_fd() - map [offset, offset+size) of @fd MAP_SHARED, rounded out to the page (on hugetlbfs
 *  to st_blksize); a regular file must be at least offset + size bytes long.  Logs one line naming
 *  @what on failure.  Return: 0 with the mapping in base and len, and hva the byte at @offset; -EBADF;
 *  -EINVAL; the mmap errno. */
int vmem__mmap_fd(int fd, uint64_t offset, uint64_t size, int prot, int extra_flags, const struct cvmm_log *log,
                  const char *what, void **base, size_t *len, uint8_t **hva);

#endif
