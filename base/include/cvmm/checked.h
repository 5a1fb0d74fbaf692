/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/checked.h - overflow-checked arithmetic for input from the guest and the front-end.
 *  Every function returns true when the result is exact and false when it would wrap. Threads: any. */
#ifndef CVMM_CHECKED_H
#define CVMM_CHECKED_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline bool cvmm_add_u64(uint64_t a, uint64_t b, uint64_t *s) { return !__builtin_add_overflow(a, b, s); }
static inline bool cvmm_mul_u64(uint64_t a, uint64_t b, uint64_t *p) { return !__builtin_mul_overflow(a, b, p); }
static inline bool cvmm_add_u32(uint32_t a, uint32_t b, uint32_t *s) { return !__builtin_add_overflow(a, b, s); }
static inline bool cvmm_add_size(size_t a, size_t b, size_t *s) { return !__builtin_add_overflow(a, b, s); }
static inline bool cvmm_mul_size(size_t a, size_t b, size_t *p) { return !__builtin_mul_overflow(a, b, p); }

/** cvmm_range_in() - [a, a+len) lies inside [start, start+size).  Cannot wrap. */
static inline bool cvmm_range_in(uint64_t a, uint64_t len, uint64_t start, uint64_t size)
{
    return a >= start && a - start <= size && len <= size - (a - start);
}

/** cvmm_range_ok() - [a, a+len) does not wrap past 2^64 (an empty range at 2^64-1 is fine). */
static inline bool cvmm_range_ok(uint64_t a, uint64_t len) { return len == 0 || a <= UINT64_MAX - (len - 1); }

/** cvmm_is_pow2() - v is a non-zero power of two. */
static inline bool cvmm_is_pow2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

/** cvmm_align_up_u64() - round @v up to @align (a power of two); false if that wraps. */
static inline bool cvmm_align_up_u64(uint64_t v, uint64_t align, uint64_t *out)
{
    uint64_t t;
    if (!cvmm_add_u64(v, align - 1, &t))
        return false;
    *out = t & ~(align - 1);
    return true;
}

#ifdef __cplusplus
}
#endif
#endif
