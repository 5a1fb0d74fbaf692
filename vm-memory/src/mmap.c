/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/mmap.c - every mapping vm-memory makes (regions, dirty logs), optionally between guard pages.
 *
 * With CVMM_GUARD_PAGES (the fuzz builds) each mapping sits in the middle of a larger PROT_NONE reservation:
 * VMEM__GUARD_BYTES (rounded up to the mapping's page size) on either side, so an access just outside guest
 * memory faults at once instead of landing in a neighbouring mapping of the process.  The reservation is
 * made first (anonymous, PROT_NONE, MAP_NORESERVE: address space only) and the file or anonymous memory is
 * mapped MAP_FIXED into its middle; vmem__munmap() releases the whole reservation. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"

#define VMEM_HUGETLBFS_MAGIC 0x958458f6u

uint64_t vmem__page_size(void) { return (uint64_t)sysconf(_SC_PAGESIZE); }

/* Map @maplen bytes (a multiple of @align) with @prot and @flags (MAP_SHARED with @fd at @off, or
 * MAP_PRIVATE | MAP_ANONYMOUS), aligned to @align, between guard pages when they are on.  base and len get
 * what vmem__munmap() must release, and *addr the mapping itself.  Return: 0; -errno of mmap. */
static int map_guarded(size_t maplen, uint64_t align, int prot, int flags, int fd, off_t off, void **base, size_t *len,
                       uint8_t **addr)
{
    uint64_t guard = 0, total = maplen;
#if VMEM__GUARD_BYTES > 0
    uint64_t page = vmem__page_size();
    uint64_t slack = align > page ? align - page : 0; /* room to align the middle to a huge page */
    guard = (VMEM__GUARD_BYTES + align - 1) & ~(align - 1);
    if (!cvmm_add_u64(total, 2 * guard + slack, &total) || total > SIZE_MAX)
        return -ENOMEM;
#endif
    if (guard == 0) {
        void *p = mmap(NULL, maplen, prot, flags, fd, off);
        if (p == MAP_FAILED)
            return -errno;
        *base = *addr = p;
        *len = maplen;
        return 0;
    }
    /* cppcheck-suppress invalidFunctionArg ; fd -1 is what MAP_ANONYMOUS asks for */
    void *res = mmap(NULL, (size_t)total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (res == MAP_FAILED)
        return -errno;
    uintptr_t mid = ((uintptr_t)res + (uintptr_t)guard + (uintptr_t)(align - 1)) & ~(uintptr_t)(align - 1);
    void *p = mmap((void *)mid, maplen, prot, flags | MAP_FIXED, fd, off);
    if (p == MAP_FAILED) {
        int rc = -errno;
        munmap(res, (size_t)total);
        return rc;
    }
    *base = res;
    *len = (size_t)total;
    *addr = p;
    return 0;
}

int vmem__mmap_fd(int fd, uint64_t offset, uint64_t size, int prot, int extra_flags, const struct cvmm_log *log,
                  const char *what, struct vmem__mapping *out)
{
    struct stat st;
    struct statfs sfs;
    const char *why = NULL;
    if (fd < 0 || fstat(fd, &st) < 0) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: %s: fd %d is not open", what, fd);
        return -EBADF;
    }
    uint64_t align = vmem__page_size(), end;
    if (fstatfs(fd, &sfs) == 0 && (uint64_t)sfs.f_type == VMEM_HUGETLBFS_MAGIC && st.st_blksize > 0 &&
        cvmm_is_pow2((uint64_t)st.st_blksize))
        align = (uint64_t)st.st_blksize;
    uint64_t start = offset & ~(align - 1), delta = offset - start, want, maplen;
    if (!cvmm_add_u64(delta, size, &want) || !cvmm_align_up_u64(want, align, &maplen) || maplen > SIZE_MAX)
        why = "the mapping length wraps";
    else if (start > (uint64_t)INT64_MAX || !cvmm_add_u64(offset, size, &end))
        why = "the offset is beyond any file";
    /* Pages past the end of a file raise SIGBUS when touched: refuse them up front (memfd, tmpfs,
     * hugetlbfs and plain files have a size; devices do not).  A file that shrinks later is the fault
     * guard's business (fault.c). */
    else if (S_ISREG(st.st_mode) && (st.st_size < 0 || (uint64_t)st.st_size < end))
        why = "the file is shorter than offset + size";
    if (why) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: %s: fd %d offset 0x%llx size 0x%llx refused: %s (file size %lld)", what,
                  fd, (unsigned long long)offset, (unsigned long long)size, why, (long long)st.st_size);
        return -EINVAL;
    }
    uint8_t *p = NULL;
    int rc =
        map_guarded((size_t)maplen, align, prot, MAP_SHARED | extra_flags, fd, (off_t)start, &out->base, &out->len, &p);
    if (rc < 0) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: %s: mmap of fd %d offset 0x%llx size 0x%llx: %s", what, fd,
                  (unsigned long long)offset, (unsigned long long)size, strerror(-rc));
        return rc;
    }
    out->start = p;
    out->size = (size_t)maplen;
    out->page = (size_t)align;
    out->hva = p + delta;
    return 0;
}

int vmem__mmap_anon(uint64_t size, int prot, int extra_flags, struct vmem__mapping *out)
{
    uint64_t page = vmem__page_size(), len;
    if (!cvmm_align_up_u64(size, page, &len) || len > SIZE_MAX)
        return -EINVAL;
    uint8_t *p = NULL;
    int rc = map_guarded((size_t)len, page, prot, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0, &out->base,
                         &out->len, &p);
    if (rc < 0)
        return rc;
    out->start = out->hva = p;
    out->size = (size_t)len;
    out->page = (size_t)page;
    return 0;
}

void vmem__munmap(struct vmem__mapping *mp)
{
    if (mp->base)
        munmap(mp->base, mp->len);
    mp->base = NULL;
}
