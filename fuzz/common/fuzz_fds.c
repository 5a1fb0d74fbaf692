/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz_fds.c - see fuzz_fds.h. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_fds.h"

#define FUZZ_FD_SIZE 65536

static int keep(fuzz_fds *s, int fd)
{
    if (fd < 0)
        return -1;
    if (s->n == FUZZ_FDS_MAX) {
        close(fd);
        return -1;
    }
    s->fd[s->n++] = fd;
    return fd;
}

static int memfd(off_t size, bool seal)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
    if (fd < 0)
        return -1;
    if (ftruncate(fd, size) < 0 || (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

int fuzz_fds_make(fuzz_fds *s, enum fuzz_fd_kind kind)
{
    int p[2];
    switch (kind) {
    case FUZZ_FD_MEMFD: return keep(s, memfd(FUZZ_FD_SIZE, false));
    case FUZZ_FD_EVENTFD: return keep(s, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    case FUZZ_FD_EVENTFD_BLOCK: return keep(s, eventfd(0, EFD_CLOEXEC));
    case FUZZ_FD_EVENTFD_FULL: {
        int fd = keep(s, eventfd(0, EFD_CLOEXEC));
        uint64_t v = UINT64_MAX - 1;
        if (fd >= 0 && write(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
            return -1;
        return fd;
    }
    case FUZZ_FD_PIPE_R:
    case FUZZ_FD_PIPE_W:
    case FUZZ_FD_SOCKET:
        if (kind == FUZZ_FD_SOCKET ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0
                                   : pipe2(p, O_CLOEXEC) < 0)
            return -1;
        keep(s, p[kind == FUZZ_FD_PIPE_R ? 1 : 0]);
        return keep(s, p[kind == FUZZ_FD_PIPE_R ? 0 : 1]);
    case FUZZ_FD_OPATH: return keep(s, open("/tmp", O_PATH | O_CLOEXEC));
    case FUZZ_FD_DEVNULL: return keep(s, open("/dev/null", O_RDWR | O_CLOEXEC));
    case FUZZ_FD_TMPFILE: {
        int fd = keep(s, open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
        if (fd >= 0 && ftruncate(fd, FUZZ_FD_SIZE) < 0)
            return -1;
        return fd;
    }
    case FUZZ_FD_MEMFD_EMPTY: return keep(s, memfd(0, false));
    case FUZZ_FD_MEMFD_SEALED: return keep(s, memfd(FUZZ_FD_SIZE, true));
    case FUZZ_FD_REUSE: return s->n ? s->fd[s->n - 1] : keep(s, eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    default: return -1;
    }
}

int fuzz_fds_pick(fuzz_fds *s, fin *in, int max, int *out)
{
    int want = (int)(fin_u8(in) % (unsigned)(max + 1)), n = 0;
    for (int i = 0; i < want; i++) {
        int fd = fuzz_fds_make(s, (enum fuzz_fd_kind)(fin_u8(in) % FUZZ_FD_KINDS));
        if (fd >= 0)
            out[n++] = fd;
    }
    return n;
}

void fuzz_fds_close(fuzz_fds *s)
{
    for (int i = 0; i < s->n; i++)
        close(s->fd[i]);
    s->n = 0;
}
