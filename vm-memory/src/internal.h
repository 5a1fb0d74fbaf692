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
    uint64_t ro; /* non-zero: read-only */
};

/* Up to this many regions a linear scan beats the binary search (measured with bench-vm-memory). */
#define VMEM__LINEAR_MAX 4u

struct vmem_map {
    size_t n;
    vmem_region **regions;   /* n entries, parallel to slots, sorted by gpa */
    vmem_log *dlog;          /* NULL: logging off */
    const struct cvmm_log *log;
    struct vmem_slot slots[]; /* n entries, then the regions array */
};

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

/** vmem__slot_find() - the slot containing @gpa, or NULL.  Branch-light: a linear scan for a few regions,
 *  otherwise a binary search on the slots' start addresses. */
static CVMM_ALWAYS_INLINE const struct vmem_slot *vmem__slot_find(const vmem_map *m, uint64_t gpa)
{
    size_t n = m->n;
    const struct vmem_slot *s = m->slots;
    if (n <= VMEM__LINEAR_MAX) {
        for (size_t i = 0; i < n; i++)
            if (gpa - s[i].gpa <= s[i].last - s[i].gpa)
                return &s[i];
        return NULL;
    }
    /* Find the last slot whose gpa <= @gpa. */
    const struct vmem_slot *base = s;
    while (n > 1) {
        size_t half = n / 2;
        base = base[half].gpa <= gpa ? base + half : base;
        n -= half;
    }
    if (gpa - base->gpa <= base->last - base->gpa)
        return base;
    return NULL;
}

/** vmem__map_fault() - log a failed guest access at DEBUG (callers probe; the virtqueue logs once). */
void vmem__map_fault(const vmem_map *m, const char *op, uint64_t gpa, uint64_t len, int rc);

/** vmem__mmap_fd() - map [offset, offset+size) of @fd, rounded out to the page (on hugetlbfs to st_blksize).
 *  Return: 0 with the mapping in base and len, and hva the byte at @offset; -errno. */
int vmem__mmap_fd(int fd, uint64_t offset, uint64_t size, int prot, int extra_flags, void **base,
                  size_t *len, uint8_t **hva);

#endif
