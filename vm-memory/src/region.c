/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/region.c - guest memory regions: mmap of an fd, memfd or anonymous memory (cvmm/vmem/region.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "internal.h"

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
                  (unsigned long long)d->gpa, (unsigned long long)d->size, (unsigned long long)d->mmap_offset, d->flags,
                  why);
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
    atomic_init(&r->faulted, 0);
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
    rc = vmem__mmap_fd(owned_fd, d->mmap_offset, d->size, prot_of(d), flags_of(d), log, what, &r->mp);
    if (rc < 0)
        goto fail_alloc;
    r->hva = r->mp.hva;
    /* A file sealed against shrinking cannot fault under us; any other one is guarded (see fault.c). */
    int seals = fcntl(owned_fd, F_GET_SEALS);
    r->sealed = seals >= 0 && (seals & F_SEAL_SHRINK);
    if (!r->sealed) {
        rc = vmem__fault_watch(r->mp.start, r->mp.size, r->mp.page, prot_of(d), &r->faulted, log, &r->guard);
        if (rc < 0)
            goto fail_map;
    }
    r->fd = owned_fd;
    *out = r;
    return 0;
fail_map:
    vmem__munmap(&r->mp);
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
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx size 0x%llx: ftruncate: %s", (unsigned long long)d->gpa,
                  (unsigned long long)d->size, strerror(-rc));
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
    rc = vmem__mmap_anon(d->size, prot_of(d), flags_of(d), &r->mp);
    if (rc < 0) {
        cvmm_logf(log, CVMM_LOG_ERROR, "vmem: region gpa 0x%llx size 0x%llx: anonymous mmap: %s",
                  (unsigned long long)d->gpa, (unsigned long long)d->size, rc == -EINVAL ? "too large" : strerror(-rc));
        goto fail;
    }
    r->hva = r->mp.hva;
    r->sealed = true; /* private memory: nothing can shrink it */
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
    vmem__fault_unwatch(r->guard); /* before the range can be reused */
    vmem__munmap(&r->mp);
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
bool vmem_region_guarded(const vmem_region *r) { return r->guard != NULL; }
bool vmem_region_faulted(const vmem_region *r)
{
    return atomic_load_explicit(&((vmem_region *)(uintptr_t)r)->faulted, memory_order_relaxed) != 0;
}
