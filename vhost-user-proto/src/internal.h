/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* internal.h - helpers shared by the vhost-user-proto sources (not installed). */
#ifndef CVMM_VHU_INTERNAL_H
#define CVMM_VHU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <pthread.h>
#include <stdbool.h>

#include "cvmm/vhu/conn.h"
#include "cvmm/vhu/frontend.h"

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

/* The front-end, shared by frontend.c (main channel) and frontend_channel.c (back-end channel). */
struct vhu_frontend {
    vhu_conn *conn;
    const struct cvmm_log *log;
    int timeout_ms;
    vhu_validate_ctx ctx; /* main channel (owner thread) */
    char name[32];
    /* Back-end channel: used by the thread in vhu_frontend_backend_serve(). */
    vhu_conn *bconn;
    const vhu_frontend_backend_ops *ops;
    void *ops_ctx;
    vhu_validate_ctx bctx;
    vhu_shmem_config bshmem;
    /* The last GET_SHMEM_CONFIG answer, handed from the owner thread to the serving thread. */
    pthread_mutex_t shmem_lock;
    bool have_shmem;
    vhu_shmem_config shmem;
};

#endif
