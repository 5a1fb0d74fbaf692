/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/fd.h - file descriptor helpers (STYLE §8).  Threads: any. */
#ifndef CVMM_FD_H
#define CVMM_FD_H

#include <errno.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/** cvmm_close() - close *fdp if it is >= 3, then set it to -1.  0-2 are never closed (set to -1 only).
 *  Safe to call twice.  Return: nothing; close() errors are ignored (the fd is gone either way on Linux). */
static inline void cvmm_close(int *fdp)
{
    if (*fdp > 2) {
        int saved = errno;
        (void)close(*fdp);
        errno = saved;
    }
    *fdp = -1;
}

#ifdef __cplusplus
}
#endif
#endif
