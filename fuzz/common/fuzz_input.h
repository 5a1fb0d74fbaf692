/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** fuzz_input.h - take typed values from the front of a fuzzer's input (like LLVM's FuzzedDataProvider,
 *  in C).  An exhausted input yields zeros, so every target decodes any byte string.  Header-only. */
#ifndef CVMM_FUZZ_INPUT_H
#define CVMM_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cvmm/log.h"

typedef struct fin {
    const uint8_t *p;
    size_t n;
} fin;

static inline bool fin_empty(const fin *f) { return f->n == 0; }

/* fin_bytes() - copy up to @len bytes into @out (zero-filled past the end of the input); returns the count
 * that came from the input. */
static inline size_t fin_bytes(fin *f, void *out, size_t len)
{
    size_t k = len < f->n ? len : f->n;
    if (k)
        memcpy(out, f->p, k);
    if (k < len)
        memset((uint8_t *)out + k, 0, len - k);
    f->p += k;
    f->n -= k;
    return k;
}

static inline uint8_t fin_u8(fin *f)
{
    uint8_t v;
    fin_bytes(f, &v, 1);
    return v;
}
static inline uint16_t fin_u16(fin *f)
{
    uint16_t v;
    fin_bytes(f, &v, 2);
    return v;
}
static inline uint32_t fin_u32(fin *f)
{
    uint32_t v;
    fin_bytes(f, &v, 4);
    return v;
}
static inline uint64_t fin_u64(fin *f)
{
    uint64_t v;
    fin_bytes(f, &v, 8);
    return v;
}
static inline bool fin_bool(fin *f) { return fin_u8(f) & 1; }

/* fin_below() - a value in [0, n) (n > 0). */
static inline uint32_t fin_below(fin *f, uint32_t n) { return n <= 256 ? fin_u8(f) % n : fin_u32(f) % n; }

/* A logger that drops every line (set CVMM_FUZZ_VERBOSE=1 to see them on stderr). */
void fuzz_log_line(void *opaque, enum cvmm_log_level lvl, const char *line);
const struct cvmm_log *fuzz_log(void);

/* fuzz_count_fds() - entries of /proc/self/fd (less the one the directory stream holds). */
int fuzz_count_fds(void);

/* CHECK() - an invariant: on failure, report the file, line and condition and abort (fuzz_fail()). */
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            fuzz_fail("%s:%d: %s", __FILE__, __LINE__, #cond);                                                         \
    } while (0)

/* fuzz_dump_fds() - list the open fds and what they are on stderr (for fd leak reports). */
void fuzz_dump_fds(void);

/* fuzz_fail() - report a broken invariant and abort (libFuzzer saves the input as a crash). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
