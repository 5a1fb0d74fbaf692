/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** fdcheck.h - private: every fd a peer sends is checked for its kind before use (fdcheck.c). */
#ifndef VUB_FDCHECK_H
#define VUB_FDCHECK_H

#include <stdbool.h>

#include "cvmm/vhu/msg.h"
#include "cvmm/vub/daemon.h"

enum vub__fd_kind {
    VUB__FD_ANY,        /* any open fd but O_PATH (handed on unused, or closed) */
    VUB__FD_EVENTFD_RD, /* kick: an eventfd we read; made non-blocking */
    VUB__FD_EVENTFD_WR, /* call, err, log: an eventfd we write; made non-blocking */
    VUB__FD_MEMORY,     /* guest memory, dirty log, inflight buffer: a regular file (memfd, shm, hugetlbfs)
                         * open read-write */
    VUB__FD_STREAM_RD,  /* device state LOAD: a pipe or socket we read; made non-blocking */
    VUB__FD_STREAM_WR,  /* device state SAVE: a pipe or socket we write; made non-blocking */
    VUB__FD_CHANNEL,    /* back-end channel: a connected UNIX stream socket */
    VUB__FD_MAPPABLE,   /* a host notifier page: a regular file or a device (VFIO) open read-write */
};
/* vub__fd_check() - @fd (borrowed) is of @kind, and non-blocking if the kind says so (the flag is shared
 *  with the peer: see fdcheck.c).  Logs one line naming @what.  Return: 0; -EBADF wrong kind or access mode,
 *  O_PATH; -errno fcntl failed.  Threads: any. */
int vub__fd_check(const vub_daemon *d, int fd, enum vub__fd_kind kind, const char *what);
/* vub__fd_nonblock() - set O_NONBLOCK on @fd (borrowed).  Return: 0 or -errno. */
int vub__fd_nonblock(int fd);
/* vub__msg_fds_ok() - every fd of front-end request @m is of the kind its message needs (made non-blocking
 *  where it is read or written).  false: logged and answered (error ack, or the request's u64 error reply);
 *  the caller skips the handler, the fds are closed after dispatch.  Threads: control. */
bool vub__msg_fds_ok(vub_daemon *d, const vhu_msg *m);

#endif
