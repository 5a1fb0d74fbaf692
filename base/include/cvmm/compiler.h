/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/compiler.h - compiler helpers shared by every cvmm library (header-only, no state). */
#ifndef CVMM_COMPILER_H
#define CVMM_COMPILER_H

#include <stddef.h>

#define CVMM_LIKELY(x) __builtin_expect(!!(x), 1)
#define CVMM_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CVMM_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#define CVMM_UNUSED __attribute__((unused))
#define CVMM_ALWAYS_INLINE inline __attribute__((always_inline))
#define CVMM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/** CVMM_STATIC_ASSERT() - a compile-time check that a public header may use in C11 and in C++. */
#ifdef __cplusplus
#define CVMM_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define CVMM_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/** cvmm_container_of() - the struct that holds @ptr as its member @member.  Private use only (STYLE §10). */
#define cvmm_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
