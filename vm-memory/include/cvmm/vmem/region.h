/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem/region.h - one guest memory region: a host mapping of guest physical [gpa, gpa+size).
 *
 *  A region owns its mapping (munmap on the last unref) and, when made from a file descriptor, the fd it
 *  was given (`owned_fd`, closed when the region goes).  Regions are reference-counted because several
 *  published maps (cvmm/vmem/map.h) share them; the count is touched only when maps are built or freed,
 *  never on an access.  Threads: a region is immutable after creation (but for its fault flag); every
 *  accessor may be called from any thread.  vmem_region_ref()/vmem_region_unref() are atomic.
 *
 *  A file that shrinks under its mapping (policy; see vm-memory/README.md, "Shrinking files").  A front-end
 *  may truncate a region's file after we mapped it; touching a page past the new end raises SIGBUS, which
 *  would kill the process.  vmem_region_new_fd() reads the fd's seals: with F_SEAL_SHRINK (QEMU seals its
 *  memfd backends) the file cannot shrink and nothing more is done.  Otherwise the region is *guarded*:
 *  the first time, vm-memory installs a process-wide SIGBUS handler (it chains to the previous handler for
 *  any fault outside a guarded mapping and any SIGBUS that was sent: a handler function gets it, SIG_IGN
 *  still ignores a sent one, the default still kills); a fault inside one maps private zero pages from the
 *  faulting page to the end of the mapping, so the access completes (reads see zeros, writes go nowhere),
 *  and marks the region faulted.  vmem_map_check() reports that (-EIO) for one relaxed load while nothing ever faulted;
 *  virtio-queue's vq_queue_check_memory() breaks the queue, and vhost-user-backend checks after every kick,
 *  so a faulted region means broken queues until the front-end sends a new memory table.  The region stays
 *  faulted (and zero-filled past the fault) for its whole life.  vm-memory never adds seals to a file it is
 *  given: sealing changes the peer's file for good (it could never resize it again), and a hostile peer
 *  would just create it without MFD_ALLOW_SEALING.  A program that installs its own SIGBUS handler after
 *  creating guarded regions must chain to the one it replaces. */
#ifndef CVMM_VMEM_REGION_H
#define CVMM_VMEM_REGION_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Region flags (vmem_region_desc.flags). */
enum {
    VMEM_REGION_READ_ONLY = 1u << 0, /* map PROT_READ only; writes through the library get -EPERM */
    VMEM_REGION_NORESERVE = 1u << 1, /* MAP_NORESERVE (anonymous/memfd regions for tests and benches) */
};

/** vmem_region_desc - what a region is (transparent value; zero means "none"/default). */
typedef struct vmem_region_desc {
    uint64_t gpa;         /* guest physical start */
    uint64_t size;        /* bytes; non-zero; gpa + size must not wrap */
    uint64_t user_addr;   /* front-end virtual address of the region (vhost-user "user address"), 0 if none */
    uint64_t mmap_offset; /* offset of the region's first byte in the fd (need not be page-aligned) */
    uint32_t flags;       /* VMEM_REGION_* */
} vmem_region_desc;

typedef struct vmem_region vmem_region;

/** vmem_region_new_fd() - map @owned_fd MAP_SHARED at @d->mmap_offset for @d->size bytes.
 *  The mapping starts at mmap_offset rounded down to the page (or, on hugetlbfs, the file's block size) and
 *  its length is rounded up likewise, as the spec's "mmap offset" requires.
 *  Return: 0; -EINVAL zero size, bad flags, d->gpa + size / mmap_offset + size / user_addr + size wraps
 *  (a region may end exactly at 2^64), or misaligned: gpa and mmap_offset differ modulo 8, so a naturally
 *  aligned guest u64 would be misaligned in the host, or the fd is a regular file (memfd, tmpfs, hugetlbfs)
 *  shorter than mmap_offset + size (its pages past the end would SIGBUS); -EBADF bad fd; -ENOMEM or the
 *  mmap errno when mapping fails.
 *  Ownership: takes @owned_fd on every path (closed on failure, kept open by the region otherwise: see
 *  vmem_region_fd()); *out is owned, release with vmem_region_unref().  @log is borrowed and must outlive
 *  the region.  The region is guarded against the file shrinking unless the fd has F_SEAL_SHRINK (see
 *  above; installing the SIGBUS handler may fail: the sigaction errno; -ENOMEM).  Threads: any. */
int vmem_region_new_fd(const vmem_region_desc *d, int owned_fd, const struct cvmm_log *log, vmem_region **out);

/** vmem_region_new_memfd() - create a sealed-size memfd of @d->size bytes (MFD_CLOEXEC) and map it shared;
 *  d->mmap_offset must be 0.  For tests and benchmarks, and for a front-end that shares memory it creates.
 *  Return: 0; -EINVAL as vmem_region_new_fd(); memfd_create/ftruncate/mmap errno.
 *  Ownership: *out owned (vmem_region_unref()); the region owns the memfd (vmem_region_fd()).  Threads: any. */
int vmem_region_new_memfd(const vmem_region_desc *d, const struct cvmm_log *log, vmem_region **out);

/** vmem_region_new_anon() - private anonymous memory (no fd: vmem_region_fd() returns -1).
 *  Return, Ownership, Threads: as vmem_region_new_memfd(). */
int vmem_region_new_anon(const vmem_region_desc *d, const struct cvmm_log *log, vmem_region **out);

/** vmem_region_ref() - take one more reference.  Return: @r.  Threads: any. */
vmem_region *vmem_region_ref(vmem_region *r);
/** vmem_region_unref() - drop one reference; the last one unmaps and closes the fd.  NULL is a no-op. */
void vmem_region_unref(vmem_region *r);

/** Accessors.  Threads: any.  The pointer from vmem_region_hva() is valid while a reference is held. */
uint64_t vmem_region_gpa(const vmem_region *r);
uint64_t vmem_region_size(const vmem_region *r);
uint64_t vmem_region_user_addr(const vmem_region *r);
uint64_t vmem_region_mmap_offset(const vmem_region *r);
bool vmem_region_read_only(const vmem_region *r);
void *vmem_region_hva(const vmem_region *r); /* host address of the byte at gpa */
/** vmem_region_fd() - the backing fd, borrowed (valid while the region lives), or -1 if anonymous. */
int vmem_region_fd(const vmem_region *r);
/** vmem_region_guarded() - whether the region is watched by the fault guard (an fd without F_SEAL_SHRINK;
 *  false for anonymous memory and sealed files, which cannot shrink).  Threads: any. */
bool vmem_region_guarded(const vmem_region *r);
/** vmem_region_faulted() - whether an access hit a page past the end of the region's (shrunk) file; the
 *  region then reads zeros from that page on.  Sticky.  One relaxed load.  Threads: any. */
bool vmem_region_faulted(const vmem_region *r);

#ifdef __cplusplus
}
#endif
#endif
