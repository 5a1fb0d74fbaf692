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

#if defined(__x86_64__) && defined(__GNUC__)
#define VMEM_HAVE_AVX2_COPY 1
#ifndef VMEM_AVX2_MIN
#define VMEM_AVX2_MIN 1024
#endif
typedef uint8_t vmem_v32 __attribute__((vector_size(32), aligned(1), may_alias));

/* Copy n >= 128 bytes with 32-byte AVX2 moves, four per iteration, the tail as the last 128 bytes
 * (overlapping what was already copied).  glibc's memcpy switches to `rep movsb` at 4 KiB with AVX, which
 * on the AMD EPYC machines we measure on is ~20% slower for an L1-hot page, and several times slower when
 * source and destination are misaligned to each other by 8. */
static __attribute__((noinline, target("avx2"))) void copy_avx2(uint8_t *d, const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        vmem_v32 a = *(const vmem_v32 *)(p + i), b = *(const vmem_v32 *)(p + i + 32);
        vmem_v32 c = *(const vmem_v32 *)(p + i + 64), e = *(const vmem_v32 *)(p + i + 96);
        *(vmem_v32 *)(d + i) = a;
        *(vmem_v32 *)(d + i + 32) = b;
        *(vmem_v32 *)(d + i + 64) = c;
        *(vmem_v32 *)(d + i + 96) = e;
    }
    if (i < n) {
        i = n - 128;
        vmem_v32 a = *(const vmem_v32 *)(p + i), b = *(const vmem_v32 *)(p + i + 32);
        vmem_v32 c = *(const vmem_v32 *)(p + i + 64), e = *(const vmem_v32 *)(p + i + 96);
        *(vmem_v32 *)(d + i) = a;
        *(vmem_v32 *)(d + i + 32) = b;
        *(vmem_v32 *)(d + i + 64) = c;
        *(vmem_v32 *)(d + i + 96) = e;
    }
}
#endif

/* memcpy() that keeps small copies inline (guest objects of 1-16 bytes are common: ring entries,
 * headers); larger ones go to the C library's tuned memcpy. */
static CVMM_ALWAYS_INLINE void copy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *p = src;
    if (n > 16) {
#ifdef VMEM_HAVE_AVX2_COPY
        if (n >= VMEM_AVX2_MIN && __builtin_cpu_supports("avx2")) {
            copy_avx2(d, p, n);
            return;
        }
#endif
        memcpy(d, p, n);
    } else if (n >= 8) { /* two possibly overlapping 8-byte moves */
        uint64_t x, y;
        memcpy(&x, p, 8);
        memcpy(&y, p + n - 8, 8);
        memcpy(d, &x, 8);
        memcpy(d + n - 8, &y, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, p, 4);
        memcpy(&y, p + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            d[i] = p[i];
    }
}

/* Whether a piece of a range may use @s (NULL: unmapped).  Return: 0; -EFAULT unmapped; -EPERM a write
 * to a read-only slot. */
static int slot_check(const struct vmem_slot *s, bool write)
{
    if (!s)
        return -EFAULT;
    return write && vmem__slot_ro(s) ? -EPERM : 0;
}

/* The slot that continues the range at @a, right after @s (slots are sorted), or NULL if there is a hole. */
static const struct vmem_slot *slot_next(const struct vmem_slot *s, const struct vmem_slot *end, uint64_t a)
{
    return s + 1 < end && s[1].gpa == a ? s + 1 : NULL;
}

/* A copy that leaves the region of @s (NULL: gpa unmapped), or len 0, or a read-only target: check the
 * whole range across adjacent slots first, then copy piecewise.  Nothing is copied on failure. */
static __attribute__((noinline)) int copy_slow(const vmem_map *m, const struct vmem_slot *s, uint64_t gpa, uint8_t *buf,
                                               size_t len, bool write)
{
    int rc;
    if (len == 0)
        return 0;
    if (!cvmm_range_ok(gpa, len)) {
        rc = -EOVERFLOW;
        goto fail;
    }
    const struct vmem_slot *t = s, *end = m->slots + m->n;
    uint64_t a = gpa, left = len;
    for (;;) {
        if ((rc = slot_check(t, write)) < 0)
            goto fail;
        uint64_t room = t->last - a; /* bytes available from a on, minus one */
        if (left - 1 <= room)
            break;
        left -= room + 1;
        a = t->last + 1; /* cannot wrap: the range does not */
        t = slot_next(t, end, a);
    }
    /* Checked: copy from s on. */
    a = gpa;
    left = len;
    for (t = s;; t++) {
        uint64_t room = t->last - a;
        size_t n = left - 1 <= room ? (size_t)left : (size_t)(room + 1);
        uint8_t *h = t->hva + (a - t->gpa);
        if (write)
            copy(h, buf, n);
        else
            copy(buf, h, n);
        buf += n;
        left -= n;
        if (left == 0)
            break;
        a = t->last + 1;
    }
    if (write)
        dirty(m, gpa, len);
    return 0;
fail:
    return vmem__map_fault(m, write ? "write" : "read", gpa, len, rc);
}

int vmem_read(const vmem_map *m, uint64_t gpa, void *buf, size_t len)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    /* len - 1 wraps for len 0, which the slow path handles. */
    if (CVMM_LIKELY(s && (uint64_t)len - 1 <= s->last - gpa)) {
        copy(buf, s->hva + (gpa - s->gpa), len);
        return 0;
    }
    return copy_slow(m, s, gpa, buf, len, false);
}

int vmem_write(const vmem_map *m, uint64_t gpa, const void *buf, size_t len)
{
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    if (CVMM_LIKELY(s && (uint64_t)len - 1 <= s->last - gpa && !vmem__slot_ro(s))) {
        copy(s->hva + (gpa - s->gpa), buf, len);
        dirty(m, gpa, len);
        return 0;
    }
    return copy_slow(m, s, gpa, (uint8_t *)(uintptr_t)buf, len, true);
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
        rc = -EFAULT; /* NOLINT(bugprone-branch-clone): as below, kept apart to say why */
    else if (write && vmem__slot_ro(s))
        rc = -EPERM;
    else
        rc = -EFAULT; /* not reached: the fast path would have succeeded */
    return vmem__map_fault(m, op, gpa, size, rc);
}

/* Host address of naturally aligned [gpa, gpa+size), or NULL. */
static CVMM_ALWAYS_INLINE uint8_t *typed_hva(const vmem_map *m, uint64_t gpa, uint64_t size, bool write)
{
    if (CVMM_UNLIKELY(gpa & (size - 1)))
        return NULL;
    const struct vmem_slot *s = vmem__slot_find(m, gpa);
    if (CVMM_UNLIKELY(!s || size - 1 > s->last - gpa || (write && vmem__slot_ro(s))))
        return NULL;
    return s->hva + (gpa - s->gpa);
}

#define VMEM_LOAD(name, type, bytes, load)                                                                             \
    int name(const vmem_map *m, uint64_t gpa, type *v) /* NOLINT(bugprone-macro-parentheses): a type */                \
    {                                                                                                                  \
        const uint8_t *h = typed_hva(m, gpa, bytes, false);                                                            \
        if (CVMM_UNLIKELY(!h))                                                                                         \
            return typed_fail(m, #name, gpa, bytes, false);                                                            \
        *v = load(h);                                                                                                  \
        return 0;                                                                                                      \
    }
#define VMEM_STORE(name, type, bytes, store)                                                                           \
    int name(const vmem_map *m, uint64_t gpa, type v)                                                                  \
    {                                                                                                                  \
        uint8_t *h = typed_hva(m, gpa, bytes, true);                                                                   \
        if (CVMM_UNLIKELY(!h))                                                                                         \
            return typed_fail(m, #name, gpa, bytes, true);                                                             \
        store(h, v);                                                                                                   \
        dirty(m, gpa, bytes);                                                                                          \
        return 0;                                                                                                      \
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
        if ((rc = slot_check(s, write)) < 0)
            goto fail;
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
        s = slot_next(s, end, a);
    }
fail:
    return vmem__map_fault(m, write ? "iovec (write)" : "iovec", gpa, len, rc);
}
