/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm_test_fds.h - the fd-leak check every test suite uses: count this process's open fds; and a bounded
 *  wait for an fd to become readable. */
#ifndef CVMM_TEST_FDS_H
#define CVMM_TEST_FDS_H

#include <dirent.h>
#include <poll.h>
#include <stdbool.h>

/** cvmm_test_count_fds() - entries of /proc/self/fd, less the one the directory stream itself holds.
 *  Return: the count; -1 if /proc/self/fd cannot be opened. */
static inline int cvmm_test_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/** cvmm_test_wait_readable() - wait up to @ms for @fd to be readable (data, a connection to accept, EOF).
 *  Return: true it is. */
static inline bool cvmm_test_wait_readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

#endif
