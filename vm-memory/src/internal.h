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

/** Bytes of PROT_NONE address space reserved on each side of every mapping, rounded up to the mapping's
 *  page size: one page by default, 2 MiB with the CMake option CVMM_GUARD_PAGES (fuzz builds); 0 turns
 *  guard pages off.  Costs are in vm-memory/README.md. */
#ifndef VMEM__GUARD_BYTES
#define VMEM__GUARD_BYTES 1
#endif

/** One mapping made by vmem__mmap_fd()/vmem__mmap_anon(): [start, start+size) is the memory, page-aligned
 *  (to the huge page on hugetlbfs); [base, base+len) is what vmem__munmap() releases (the memory plus its
 *  guard pages, if any). */
struct vmem__mapping {
    void *base;
    size_t len;
    uint8_t *start;
    size_t size;
    size_t page;  /* the mapping's page size */
    uint8_t *hva; /* the first byte asked for (start + offset % page) */
};

struct vmem__fault_slot;

struct vmem_region {
    atomic_uint refs;
    atomic_uint faulted; /* set by the fault guard (fault.c) when an access hit a truncated page */
    uint32_t flags;      /* VMEM_REGION_* */
    bool sealed;         /* fd-backed and F_SEAL_SHRINK: cannot fault, not guarded */
    uint64_t gpa, size, user_addr, mmap_offset;
    uint8_t *hva; /* host address of the byte at gpa */
    struct vmem__mapping mp;
    struct vmem__fault_slot *guard; /* registered with the fault guard, or NULL */
    int fd;                         /* owned, -1 for anonymous memory */
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
    uint64_t base;  /* slots[0].gpa */
    uint32_t nb;    /* buckets (a power of two), 0 for an empty map */
    uint32_t shift; /* bucket of gpa: (gpa - base) >> shift */
    const struct vmem_bucket *tab;
    vmem_region **regions; /* n entries, parallel to slots, sorted by gpa */
    vmem_log *dlog;        /* NULL: logging off */
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
    if (CVMM_UNLIKELY(b >= m->nb))            /* always for an empty map (nb 0) */
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
    atomic_bool warned; /* the "log too small" line was written */
    atomic_bool marked; /* a bit was set since the last vmem_log_take_marked() */
    uint8_t *bits;
    uint64_t size;  /* bytes of bitmap */
    uint64_t pages; /* pages the bitmap covers: size * 8, saturated */
    struct vmem__mapping mp;
    atomic_uint faulted;            /* set by the fault guard: the log's file shrank */
    struct vmem__fault_slot *guard; /* or NULL (sealed) */
    const struct cvmm_log *log;
};

/** vmem__map_fault() - log a failed guest access at DEBUG (callers probe; the virtqueue logs once).
 *  Return: @rc, so that fast paths end in a tail call. */
__attribute__((cold)) int vmem__map_fault(const vmem_map *m, const char *op, uint64_t gpa, uint64_t len, int rc);

/** vmem__mmap_fd() - map [offset, offset+size) of @fd MAP_SHARED, rounded out to the page (on hugetlbfs
 *  to st_blksize), between guard pages if VMEM__GUARD_BYTES; a regular file must be at least offset + size
 *  bytes long.  Logs one line naming @what on failure.  Return: 0 with *out filled (hva: the byte at
 *  @offset); -EBADF; -EINVAL; the mmap errno.  (mmap.c) */
int vmem__mmap_fd(int fd, uint64_t offset, uint64_t size, int prot, int extra_flags, const struct cvmm_log *log,
                  const char *what, struct vmem__mapping *out);
/** vmem__mmap_anon() - private anonymous memory of @size bytes (rounded up to the page), guarded like
 *  vmem__mmap_fd().  Return: 0; -EINVAL too large; the mmap errno (not logged). */
int vmem__mmap_anon(uint64_t size, int prot, int extra_flags, struct vmem__mapping *out);
/** vmem__munmap() - release a mapping and its guard pages; a released or zeroed one is a no-op. */
void vmem__munmap(struct vmem__mapping *mp);
/** vmem__page_size() - the system page size. */
uint64_t vmem__page_size(void);

/* ---- the fault guard (fault.c): the library's one piece of process-wide state ---- */

/** vmem__fault_watch() - guard [start, start+size) (granule @page, protection @prot): a SIGBUS on a page of
 *  it (the file shrank) maps private zero pages from that page to the end of the range with MAP_FIXED, so
 *  the access completes, and sets *@flag.  Installs the process's SIGBUS handler on first use.
 *  Return: 0 with *out the registration; -ENOMEM; the sigaction errno.  Logs one line on failure. */
int vmem__fault_watch(uint8_t *start, size_t size, size_t page, int prot, atomic_uint *flag, const struct cvmm_log *log,
                      struct vmem__fault_slot **out);
/** vmem__fault_unwatch() - forget a registration (NULL: no-op); returns once no handler can still act on
 *  it, so the caller may munmap the range next. */
void vmem__fault_unwatch(struct vmem__fault_slot *s);
/** vmem__fault_count() - guarded faults in this process so far (one relaxed load). */
unsigned vmem__fault_count(void);

#endif
