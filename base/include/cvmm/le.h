/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/le.h - little-endian wrapper types for virtio fields (like the kernel's __le16).
 *  A virtio field is declared cvmm_le16/32/64 so that `d.len + 1` does not compile; convert with
 *  cvmm_le*_get()/cvmm_le*_set().  vhost-user messages are native-endian and never use these. Threads: any. */
#ifndef CVMM_LE_H
#define CVMM_LE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A little-endian 16-bit field as it lies in guest memory; read it with cvmm_le16_get(). */
typedef struct {
    uint16_t raw; /**< the bytes as stored: little-endian */
} cvmm_le16;
/** A little-endian 32-bit field as it lies in guest memory; read it with cvmm_le32_get(). */
typedef struct {
    uint32_t raw; /**< the bytes as stored: little-endian */
} cvmm_le32;
/** A little-endian 64-bit field as it lies in guest memory; read it with cvmm_le64_get(). */
typedef struct {
    uint64_t raw; /**< the bytes as stored: little-endian */
} cvmm_le64;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define CVMM_BIG_ENDIAN 1
static inline uint16_t cvmm_le16_to_cpu(uint16_t v) { return __builtin_bswap16(v); }
static inline uint32_t cvmm_le32_to_cpu(uint32_t v) { return __builtin_bswap32(v); }
static inline uint64_t cvmm_le64_to_cpu(uint64_t v) { return __builtin_bswap64(v); }
#else
#define CVMM_BIG_ENDIAN 0
static inline uint16_t cvmm_le16_to_cpu(uint16_t v) { return v; }
static inline uint32_t cvmm_le32_to_cpu(uint32_t v) { return v; }
static inline uint64_t cvmm_le64_to_cpu(uint64_t v) { return v; }
#endif
/* The conversion is its own inverse. */
#define cvmm_cpu_to_le16 cvmm_le16_to_cpu
#define cvmm_cpu_to_le32 cvmm_le32_to_cpu
#define cvmm_cpu_to_le64 cvmm_le64_to_cpu

static inline uint16_t cvmm_le16_get(cvmm_le16 v) { return cvmm_le16_to_cpu(v.raw); }
static inline uint32_t cvmm_le32_get(cvmm_le32 v) { return cvmm_le32_to_cpu(v.raw); }
static inline uint64_t cvmm_le64_get(cvmm_le64 v) { return cvmm_le64_to_cpu(v.raw); }
static inline cvmm_le16 cvmm_le16_set(uint16_t v)
{
    cvmm_le16 r = {cvmm_cpu_to_le16(v)};
    return r;
}
static inline cvmm_le32 cvmm_le32_set(uint32_t v)
{
    cvmm_le32 r = {cvmm_cpu_to_le32(v)};
    return r;
}
static inline cvmm_le64 cvmm_le64_set(uint64_t v)
{
    cvmm_le64 r = {cvmm_cpu_to_le64(v)};
    return r;
}

#ifdef __cplusplus
}
#endif
#endif
