/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/map.h - an immutable snapshot of guest memory: sorted, non-overlapping regions (at most
 *  VMEM_MAX_REGIONS), and optionally a dirty log.  Lookup: the map's guest-physical span is cut into up to
 *  4096 equal power-of-two buckets that name the candidate regions, so finding a region costs two
 *  dependent loads for typical layouts (a bucket that several regions share is binary-searched); built
 *  once per map, in O(regions + buckets).
 *
 *  A map never changes once built.  Adding or removing a region, or turning the dirty log on or off, builds
 *  a new map (sharing the regions by reference) which the owner publishes through a vmem_guest
 *  (cvmm/vmem/guest.h) so that readers on other threads switch over safely.
 *  Threads: every function taking `const vmem_map *` may run on any number of threads at once.
 *  vmem_map_free() must only run when no thread uses the map any more. */
#ifndef CVMM_VMEM_MAP_H
#define CVMM_VMEM_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vmem/log.h"
#include "cvmm/vmem/region.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The vhost-user maximum number of memory slots (VHOST_USER_MAX_RAM_SLOTS = 509 in QEMU's back-ends). */
#define VMEM_MAX_REGIONS 509u

typedef struct vmem_map vmem_map;

/** vmem_map_new() - a map of @n regions (n may be 0), sorted by gpa.
 *  Return: 0; -EINVAL a NULL region or two regions overlap in guest physical space; -ENOSPC n > 509;
 *  -ENOMEM.  Ownership: @regions are borrowed (the map takes its own references); @dlog borrowed, may be
 *  NULL (no logging), the map takes a reference; @log borrowed, must outlive the map; *out owned, release
 *  with vmem_map_free().  Threads: any. */
int vmem_map_new(vmem_region *const *regions, size_t n, vmem_log *dlog, const struct cvmm_log *log, vmem_map **out);

/** vmem_map_with_region() - a new map: @m's regions plus @r.  Return: as vmem_map_new() (-EINVAL overlap,
 *  -ENOSPC full).  Ownership: @m and @r borrowed; *out owned.  Threads: any. */
int vmem_map_with_region(const vmem_map *m, vmem_region *r, vmem_map **out);

/** vmem_map_without_region() - a new map: @m less the region that starts at @gpa and has exactly @size
 *  bytes (and, if @user_addr is not 0, that front-end address: REM_MEM_REG matches all three).
 *  Return: 0; -ENOENT no such region; -ENOMEM.  Ownership: @m borrowed; *out owned.  Threads: any. */
int vmem_map_without_region(const vmem_map *m, uint64_t gpa, uint64_t size, uint64_t user_addr, vmem_map **out);

/** vmem_map_with_log() - a new map with @m's regions and dirty log @dlog (NULL: logging off).
 *  Return: 0; -ENOMEM.  Ownership: borrowed args; *out owned.  Threads: any. */
int vmem_map_with_log(const vmem_map *m, vmem_log *dlog, vmem_map **out);

/** vmem_map_free() - drop the map's references to its regions and log.  NULL is a no-op.
 *  Threads: no other thread may still use @m (see vmem_guest for the grace period). */
void vmem_map_free(vmem_map *m);

/** Introspection.  vmem_map_region() borrows a region valid while the map lives; NULL if index >= count. */
size_t vmem_map_count(const vmem_map *m);
vmem_region *vmem_map_region(const vmem_map *m, size_t index);
vmem_log *vmem_map_dirty_log(const vmem_map *m); /* borrowed, NULL when logging is off */
const struct cvmm_log *vmem_map_logger(const vmem_map *m);

/** vmem_map_find() - the region containing @gpa.  Return: 0; -EFAULT unmapped.  *out borrowed. */
int vmem_map_find(const vmem_map *m, uint64_t gpa, const vmem_region **out);

/** vmem_map_translate() - host pointer for reading [gpa, gpa+len), which must lie in one region.
 *  Return: 0; -EINVAL len 0; -EOVERFLOW gpa + len wraps; -EFAULT unmapped or leaves its region.
 *  Ownership: *hva borrows the mapping while @m lives.  Threads: any. */
int vmem_map_translate(const vmem_map *m, uint64_t gpa, uint64_t len, void **hva);

/** vmem_map_translate_mut() - as vmem_map_translate() for writing; -EPERM if the region is read-only.
 *  Writes through the pointer are not logged: call vmem_map_mark_dirty() after writing. */
int vmem_map_translate_mut(const vmem_map *m, uint64_t gpa, uint64_t len, void **hva);

/** vmem_map_uva_to_gpa() - guest physical address of front-end virtual address @uva; [uva, uva+len) must
 *  lie in one region.  Return: 0; -EINVAL len 0; -EOVERFLOW wraps; -EFAULT no region has it. */
int vmem_map_uva_to_gpa(const vmem_map *m, uint64_t uva, uint64_t len, uint64_t *gpa);

/** vmem_map_uva_translate() - host pointer for front-end virtual range [uva, uva+len) (one region).
 *  Return: as vmem_map_uva_to_gpa(). */
int vmem_map_uva_translate(const vmem_map *m, uint64_t uva, uint64_t len, void **hva);

/** vmem_map_mark_dirty() - mark [gpa, gpa+len) dirty if the map has a log; no-op (0) otherwise.
 *  Return: as vmem_log_mark(). */
int vmem_map_mark_dirty(const vmem_map *m, uint64_t gpa, uint64_t len);

/** vmem_map_check() - has a region of @m (or its dirty log) faulted because its file shrank under us
 *  (cvmm/vmem/region.h, "A file that shrinks")?  Costs one relaxed load while no guarded mapping in the
 *  process ever faulted, a scan of @m's regions afterwards.
 *  Return: 0 healthy; -EIO a region faulted, *index (may be NULL) gets its index in @m, or
 *  vmem_map_count(m) if it is the dirty log.  Threads: any. */
int vmem_map_check(const vmem_map *m, size_t *index);

#ifdef __cplusplus
}
#endif
#endif
