/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* vm-memory/src/access.c - bounds-checked copies, typed LE access and iovecs (cvmm/vmem/access.h).
 *
 * Each function has a straight-line fast path (one lookup, one range check, the access) and a cold
 * out-of-line function that works out the exact errno and logs it, so the hot code stays small. */
#include <errno.h>
#include <string.h>

#include "cvmm/vmem/access.h"
#include "cvmm/vmem/atomic.h"
#include "internal.h"

/* Mark [gpa, gpa+len) dirty when the map logs.  A log that is too small is reported once by the log
 * itself; the write already happened, so it does not fail the access. */
static CVMM_ALWAYS_INLINE void dirty(const vmem_map *m, uint64_t gpa, uint64_t len)
{
    if (CVMM_UNLIKELY(m->dlog != NULL))
        (void)vmem_log_mark(m->dlog, gpa, len);
}

/* Walk [gpa, gpa+len) (len > 0, no wrap) across adjacent slots.  With @buf NULL only check; otherwise copy
 * (the check must have passed).  Return: 0; -EFAULT a byte is unmapped; -EPERM (write) read-only. */
static int walk_copy(const vmem_map *m, uint64_t gpa, uint8_t *buf, size_t len, bool write, bool copy)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa), *end = m->slots + m->n;
    uint64_t a = gpa, left = len;
    for (;;) {
        if (!s)
            return -EFAULT;
        if (write && s->ro)
            return -EPERM;
        uint64_t room = s->last - a; /* bytes available after a, minus one */
        uint64_t n = left - 1 <= room ? left : room + 1;
        if (copy) {
            uint8_t *h = s->hva + (a - s->gpa);
            if (write)
                memcpy(h, buf, (size_t)n);
            else
                memcpy(buf, h, (size_t)n);
            buf += n;
        }
        left -= n;
        if (left == 0)
            return 0;
        a = s->last + 1; /* cannot wrap: the range does not */
        s = s + 1 < end && s[1].gpa == a ? s + 1 : NULL;
    }
}

static __attribute__((noinline)) int copy_slow(const vmem_map *m, uint64_t gpa, void *buf, size_t len, bool write)
{
    const char *op = write ? "write" : "read";
    if (len == 0)
        return 0;
    if (!cvmm_range_ok(gpa, len)) {
        vmem__map_fault(m, op, gpa, len, -EOVERFLOW);
        return -EOVERFLOW;
    }
    int rc = walk_copy(m, gpa, buf, len, write, false);
    if (rc < 0) {
        vmem__map_fault(m, op, gpa, len, rc);
        return rc;
    }
    (void)walk_copy(m, gpa, buf, len, write, true);
    if (write)
        dirty(m, gpa, len);
    return 0;
}

int vmem_read(const vmem_map *m, uint64_t gpa, void *buf, size_t len)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    /* len - 1 wraps for len 0, which the slow path handles. */
    if (CVMM_LIKELY(s && (uint64_t)len - 1 <= s->last - gpa)) {
        memcpy(buf, s->hva + (gpa - s->gpa), len);
        return 0;
    }
    return copy_slow(m, gpa, buf, len, false);
}

int vmem_write(const vmem_map *m, uint64_t gpa, const void *buf, size_t len)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    if (CVMM_LIKELY(s && (uint64_t)len - 1 <= s->last - gpa && !s->ro)) {
        memcpy(s->hva + (gpa - s->gpa), buf, len);
        dirty(m, gpa, len);
        return 0;
    }
    return copy_slow(m, gpa, (void *)(uintptr_t)buf, len, true);
}

/* The exact errno of a failed typed access of @size bytes. */
static __attribute__((noinline)) int typed_fail(const vmem_map *m, const char *op, uint64_t gpa, uint64_t size,
                                                bool write)
{
    int rc;
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    if (gpa & (size - 1))
        rc = -EINVAL;
    else if (!s || size - 1 > s->last - gpa)
        rc = -EFAULT;
    else if (write && s->ro)
        rc = -EPERM;
    else
        rc = -EFAULT; /* not reached: the fast path would have succeeded */
    vmem__map_fault(m, op, gpa, size, rc);
    return rc;
}

/* Host address of naturally aligned [gpa, gpa+size), or NULL. */
static CVMM_ALWAYS_INLINE uint8_t *typed_hva(const vmem_map *m, uint64_t gpa, uint64_t size, bool write)
{
    if (CVMM_UNLIKELY(gpa & (size - 1)))
        return NULL;
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    if (CVMM_UNLIKELY(!s || size - 1 > s->last - gpa || (write && s->ro)))
        return NULL;
    return s->hva + (gpa - s->gpa);
}

#define VMEM_LOAD(name, type, bytes, load)                                                                    \
    int name(const vmem_map *m, uint64_t gpa, type *v)                                                        \
    {                                                                                                         \
        const uint8_t *h = typed_hva(m, gpa, bytes, false);                                                   \
        if (CVMM_UNLIKELY(!h))                                                                                \
            return typed_fail(m, #name, gpa, bytes, false);                                                   \
        *v = load(h);                                                                                         \
        return 0;                                                                                             \
    }
#define VMEM_STORE(name, type, bytes, store)                                                                  \
    int name(const vmem_map *m, uint64_t gpa, type v)                                                         \
    {                                                                                                         \
        uint8_t *h = typed_hva(m, gpa, bytes, true);                                                          \
        if (CVMM_UNLIKELY(!h))                                                                                \
            return typed_fail(m, #name, gpa, bytes, true);                                                    \
        store(h, v);                                                                                          \
        dirty(m, gpa, bytes);                                                                                 \
        return 0;                                                                                             \
    }

/* A 64-bit acquire load is not part of the public atomics; the relaxed ones are single accesses. */
VMEM_LOAD(vmem_load_le16, uint16_t, 2, vmem_hva_load_relaxed_le16)
VMEM_LOAD(vmem_load_le32, uint32_t, 4, vmem_hva_load_relaxed_le32)
VMEM_LOAD(vmem_load_le64, uint64_t, 8, vmem_hva_load_relaxed_le64)
VMEM_STORE(vmem_store_le16, uint16_t, 2, vmem_hva_store_relaxed_le16)
VMEM_STORE(vmem_store_le32, uint32_t, 4, vmem_hva_store_relaxed_le32)
VMEM_STORE(vmem_store_le64, uint64_t, 8, vmem_hva_store_relaxed_le64)
VMEM_LOAD(vmem_load_acquire_u16, uint16_t, 2, vmem_hva_load_acquire_le16)
VMEM_LOAD(vmem_load_acquire_u32, uint32_t, 4, vmem_hva_load_acquire_le32)
VMEM_STORE(vmem_store_release_u16, uint16_t, 2, vmem_hva_store_release_le16)
VMEM_STORE(vmem_store_release_u32, uint32_t, 4, vmem_hva_store_release_le32)

int vmem_map_iovec(const vmem_map *m, uint64_t gpa, uint64_t len, bool write, struct iovec *iov, int max)
{
    int rc;
    if (len == 0)
        return 0;
    if (!cvmm_range_ok(gpa, len)) {
        rc = -EOVERFLOW;
        goto fail;
    }
    const struct vmem_slot *s = vmem__slot_find(m, gpa), *end = m->slots + m->n;
    uint64_t a = gpa, left = len;
    int k = 0;
    for (;;) {
        if (!s) {
            rc = -EFAULT;
            goto fail;
        }
        if (write && s->ro) {
            rc = -EPERM;
            goto fail;
        }
        if (k >= max) {
            rc = -ENOSPC;
            goto fail;
        }
        uint64_t room = s->last - a;
        uint64_t n = left - 1 <= room ? left : room + 1;
        if (n > SIZE_MAX) { /* only on 32-bit hosts */
            rc = -EOVERFLOW;
            goto fail;
        }
        iov[k].iov_base = s->hva + (a - s->gpa);
        iov[k].iov_len = (size_t)n;
        k++;
        left -= n;
        if (left == 0)
            return k;
        a = s->last + 1;
        s = s + 1 < end && s[1].gpa == a ? s + 1 : NULL;
    }
fail:
    vmem__map_fault(m, write ? "iovec (write)" : "iovec", gpa, len, rc);
    return rc;
}
