/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/region.c - guest memory regions: mmap of an fd, memfd or anonymous memory (cvmm/vmem/region.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "internal.h"

#define VMEM_HUGETLBFS_MAGIC 0x958458f6u

int vmem__mmap_fd(int fd, uint64_t offset, uint64_t size, int prot, int extra_flags, const struct cvmm_log *log,
                  const char *what, void **base, size_t *len, uint8_t **hva)
{
    struct stat st;
    struct statfs sfs;
    const char *why = NULL;
    int rc = -EINVAL;
    if (fd < 0 || fstat(fd, &st) < 0) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: %s: fd %d is not open", what, fd);
        return -EBADF;
    }
    uint64_t align = (uint64_t)sysconf(_SC_PAGESIZE), end;
    if (fstatfs(fd, &sfs) == 0 && (uint64_t)sfs.f_type == VMEM_HUGETLBFS_MAGIC && st.st_blksize > 0 &&
        cvmm_is_pow2((uint64_t)st.st_blksize))
        align = (uint64_t)st.st_blksize;
    uint64_t start = offset & ~(align - 1), delta = offset - start, want, maplen;
    if (!cvmm_add_u64(delta, size, &want) || !cvmm_align_up_u64(want, align, &maplen) || maplen > SIZE_MAX)
        why = "the mapping length wraps";
    else if (start > (uint64_t)INT64_MAX || !cvmm_add_u64(offset, size, &end))
        why = "the offset is beyond any file";
    /* Pages past the end of a file raise SIGBUS when touched: refuse them up front (memfd, tmpfs,
     * hugetlbfs and plain files have a size; devices do not). */
    else if (S_ISREG(st.st_mode) && (st.st_size < 0 || (uint64_t)st.st_size < end))
        why = "the file is shorter than offset + size";
    if (why) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: %s: fd %d offset 0x%llx size 0x%llx refused: %s (file size %lld)",
                  what, fd, (unsigned long long)offset, (unsigned long long)size, why, (long long)st.st_size);
        return -EINVAL;
    }
    void *p = mmap(NULL, (size_t)maplen, prot, MAP_SHARED | extra_flags, fd, (off_t)start);
    if (p == MAP_FAILED) {
        rc = -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: %s: mmap of fd %d offset 0x%llx size 0x%llx: %s", what, fd,
                  (unsigned long long)offset, (unsigned long long)size, strerror(-rc));
        return rc;
    }
    *base = p;
    *len = (size_t)maplen;
    *hva = (uint8_t *)p + delta;
    return 0;
}

/* Validate @d; @from_fd allows a non-zero mmap_offset. */
static int desc_check(const vmem_region_desc *d, bool from_fd, const struct cvmm_log *log)
{
    if (!d) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region descriptor is NULL");
        return -EINVAL;
    }
    uint64_t end;
    const char *why = NULL;
    if (d->size == 0)
        why = "zero size";
    else if (d->flags & ~(uint32_t)(VMEM_REGION_READ_ONLY | VMEM_REGION_NORESERVE))
        why = "unknown flags";
    else if (!cvmm_range_ok(d->gpa, d->size))
        why = "gpa + size wraps";
    else if (!cvmm_add_u64(d->mmap_offset, d->size, &end))
        why = "mmap_offset + size wraps";
    else if (!from_fd && d->mmap_offset != 0)
        why = "mmap_offset must be 0 without an fd";
    else if (d->user_addr != 0 && !cvmm_range_ok(d->user_addr, d->size))
        why = "user_addr + size wraps";
    else if ((d->gpa ^ d->mmap_offset) & 7u)
        why = "gpa and mmap_offset are not congruent modulo 8 (aligned guest accesses would be misaligned)";
    else if (d->size > SIZE_MAX)
        why = "size exceeds the address space";
    if (why) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx size 0x%llx offset 0x%llx flags 0x%x: %s",
                  (unsigned long long)d->gpa, (unsigned long long)d->size, (unsigned long long)d->mmap_offset,
                  d->flags, why);
        return -EINVAL;
    }
    return 0;
}

static int region_alloc(const vmem_region_desc *d, const struct cvmm_log *log, vmem_region **out)
{
    vmem_region *r = calloc(1, sizeof(*r));
    if (!r) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx: out of memory", (unsigned long long)d->gpa);
        return -ENOMEM;
    }
    atomic_init(&r->refs, 1);
    r->flags = d->flags;
    r->gpa = d->gpa;
    r->size = d->size;
    r->user_addr = d->user_addr;
    r->mmap_offset = d->mmap_offset;
    r->fd = -1;
    r->log = log;
    *out = r;
    return 0;
}

static int prot_of(const vmem_region_desc *d)
{
    return (d->flags & VMEM_REGION_READ_ONLY) ? PROT_READ : PROT_READ | PROT_WRITE;
}

static int flags_of(const vmem_region_desc *d) { return (d->flags & VMEM_REGION_NORESERVE) ? MAP_NORESERVE : 0; }

int vmem_region_new_fd(const vmem_region_desc *d, int owned_fd, const struct cvmm_log *log, vmem_region **out)
{
    vmem_region *r = NULL;
    int rc = desc_check(d, true, log);
    if (rc < 0)
        goto fail_fd;
    rc = region_alloc(d, log, &r);
    if (rc < 0)
        goto fail_fd;
    char what[64];
    snprintf(what, sizeof(what), "region gpa 0x%llx", (unsigned long long)d->gpa);
    rc = vmem__mmap_fd(owned_fd, d->mmap_offset, d->size, prot_of(d), flags_of(d), log, what, &r->map_base,
                       &r->map_len, &r->hva);
    if (rc < 0)
        goto fail_alloc;
    r->fd = owned_fd;
    *out = r;
    return 0;
fail_alloc:
    free(r);
fail_fd:
    cvmm_close(&owned_fd);
    return rc;
}

int vmem_region_new_memfd(const vmem_region_desc *d, const struct cvmm_log *log, vmem_region **out)
{
    int rc = desc_check(d, false, log);
    if (rc < 0)
        return rc;
    int fd = memfd_create("cvmm-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        rc = -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx: memfd_create: %s", (unsigned long long)d->gpa,
                  strerror(-rc));
        return rc;
    }
    if (d->size > (uint64_t)INT64_MAX || ftruncate(fd, (off_t)d->size) < 0) {
        rc = d->size > (uint64_t)INT64_MAX ? -EFBIG : -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx size 0x%llx: ftruncate: %s",
                  (unsigned long long)d->gpa, (unsigned long long)d->size, strerror(-rc));
        cvmm_close(&fd);
        return rc;
    }
    /* The size is fixed for the region's life: a shrink would turn accesses into SIGBUS. */
    (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    return vmem_region_new_fd(d, fd, log, out);
}

int vmem_region_new_anon(const vmem_region_desc *d, const struct cvmm_log *log, vmem_region **out)
{
    vmem_region *r = NULL;
    int rc = desc_check(d, false, log);
    if (rc < 0)
        return rc;
    rc = region_alloc(d, log, &r);
    if (rc < 0)
        return rc;
    uint64_t len;
    if (!cvmm_align_up_u64(d->size, (uint64_t)sysconf(_SC_PAGESIZE), &len) || len > SIZE_MAX) {
        rc = -EINVAL;
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx size 0x%llx: too large",
                  (unsigned long long)d->gpa, (unsigned long long)d->size);
        goto fail;
    }
    void *p = mmap(NULL, (size_t)len, prot_of(d), MAP_PRIVATE | MAP_ANONYMOUS | flags_of(d), -1, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx size 0x%llx: anonymous mmap: %s",
                  (unsigned long long)d->gpa, (unsigned long long)d->size, strerror(-rc));
        goto fail;
    }
    r->map_base = p;
    r->map_len = (size_t)len;
    r->hva = p;
    *out = r;
    return 0;
fail:
    free(r);
    return rc;
}

vmem_region *vmem_region_ref(vmem_region *r)
{
    atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
    return r;
}

void vmem_region_unref(vmem_region *r)
{
    if (!r)
        return;
    /* Release our writes before the last owner unmaps; acquire theirs on the last drop. */
    if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) != 1)
        return;
    munmap(r->map_base, r->map_len);
    cvmm_close(&r->fd);
    free(r);
}

uint64_t vmem_region_gpa(const vmem_region *r) { return r->gpa; }
uint64_t vmem_region_size(const vmem_region *r) { return r->size; }
uint64_t vmem_region_user_addr(const vmem_region *r) { return r->user_addr; }
uint64_t vmem_region_mmap_offset(const vmem_region *r) { return r->mmap_offset; }
bool vmem_region_read_only(const vmem_region *r) { return (r->flags & VMEM_REGION_READ_ONLY) != 0; }
void *vmem_region_hva(const vmem_region *r) { return r->hva; }
int vmem_region_fd(const vmem_region *r) { return r->fd; }
