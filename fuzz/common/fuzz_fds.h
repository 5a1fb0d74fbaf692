/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** fuzz_fds.h - file descriptors of every kind a peer could send, chosen by the fuzzer's input: memfds
 *  (sized, empty, sealed), eventfds (non-blocking, blocking, saturated), pipe ends, a socket, an O_PATH fd,
 *  /dev/null and a regular file.  The set owns what it opens; fuzz_fds_close() closes it all. */
#ifndef CVMM_FUZZ_FDS_H
#define CVMM_FUZZ_FDS_H

#include "fuzz_input.h"

enum fuzz_fd_kind {
    FUZZ_FD_MEMFD,         /* 64 KiB memfd */
    FUZZ_FD_EVENTFD,       /* non-blocking eventfd */
    FUZZ_FD_EVENTFD_BLOCK, /* blocking eventfd */
    FUZZ_FD_EVENTFD_FULL,  /* blocking eventfd with its counter at 2^64 - 2 */
    FUZZ_FD_PIPE_R,
    FUZZ_FD_PIPE_W,
    FUZZ_FD_SOCKET, /* one end of a socketpair (the other end is kept open) */
    FUZZ_FD_OPATH,  /* O_PATH on /tmp */
    FUZZ_FD_DEVNULL,
    FUZZ_FD_TMPFILE,      /* 64 KiB regular file on /tmp */
    FUZZ_FD_MEMFD_EMPTY,  /* memfd of size 0 */
    FUZZ_FD_MEMFD_SEALED, /* 64 KiB memfd sealed against shrinking */
    FUZZ_FD_REUSE,        /* the previous fd of this set again (the same file twice) */
    FUZZ_FD_KINDS
};

#define FUZZ_FDS_MAX 64

typedef struct fuzz_fds {
    int fd[FUZZ_FDS_MAX]; /* owned */
    int n;
} fuzz_fds;

/* fuzz_fds_make() - open one fd of @kind into @s.  Return: the fd (owned by @s), or -1. */
int fuzz_fds_make(fuzz_fds *s, enum fuzz_fd_kind kind);
/* fuzz_fds_pick() - read a count (0..@max) and that many kinds from @in; fill @out with the fds.
 * Return: the count. */
int fuzz_fds_pick(fuzz_fds *s, fin *in, int max, int *out);
void fuzz_fds_close(fuzz_fds *s);

#endif
