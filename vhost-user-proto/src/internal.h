/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* internal.h - helpers shared by the vhost-user-proto sources (not installed). */
#ifndef CVMM_VHU_INTERNAL_H
#define CVMM_VHU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cvmm/vhu/conn.h"

/* Copy @name (or @dflt) into @dst, truncating. */
void vhu__name_copy(char *dst, size_t cap, const char *name, const char *dflt);
/* A config timeout: 0 means the default 5000 ms, < 0 forever. */
int vhu__timeout(int timeout_ms);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t vhu__now_ms(void);
/* poll() one fd for @events, EINTR-safe.  Return: 0 ready; -ETIMEDOUT; -errno. */
int vhu__poll(int fd, short events, int timeout_ms);
/* Mark @c broken (logs once).  Returns @err. */
int vhu__conn_break(vhu_conn *c, int err, const char *why);

#endif
