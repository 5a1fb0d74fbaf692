/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* rng.c - virtio-rng requests from getrandom() (rng.h). */
#include "rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/uio.h>

#include "cvmm/vq/notify.h"
#include "cvmm/vq/rw.h"
#include "drain.h"

#define RNG_IOV_MAX 64

/* Fill @len bytes at @p; getrandom() may return less than asked (signals, large requests). */
static int rng_fill(void *p, size_t len)
{
    uint8_t *b = p;
    while (len > 0) {
        ssize_t n = getrandom(b, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

int rng_request(const vq_snapshot *s, uint32_t *used_len)
{
    vq_writer w, rest;
    int rc = 0;
    *used_len = 0;
    vq_writer_init(&w, s);
    uint64_t left = vq_writer_bytes_left(&w); /* the snapshot's total: the guest cannot change it */
    if (left > RNG_CHAIN_MAX && (rc = vq_writer_split_at(&w, RNG_CHAIN_MAX, &rest)) < 0)
        return rc;
    struct iovec iov[RNG_IOV_MAX];
    int n = vq_writer_iovec(&w, iov, RNG_IOV_MAX);
    if (n == -ENOSPC) { /* more pieces than iovecs: copy through a buffer */
        uint8_t buf[4096];
        uint64_t todo = left > RNG_CHAIN_MAX ? RNG_CHAIN_MAX : left;
        while (todo > 0) {
            size_t k = todo < sizeof(buf) ? (size_t)todo : sizeof(buf);
            if ((rc = rng_fill(buf, k)) < 0 || (rc = vq_writer_write(&w, buf, k)) < 0)
                break;
            todo -= k;
        }
    } else if (n >= 0) {
        uint64_t done = 0;
        rc = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            rc = rng_fill(iov[i].iov_base, iov[i].iov_len);
            if (rc == 0)
                done += iov[i].iov_len;
        }
        int arc = vq_writer_advance(&w, done); /* marks what getrandom() wrote dirty */
        if (rc == 0)
            rc = arc;
    } else {
        rc = n;
    }
    *used_len = (uint32_t)vq_writer_bytes_written(&w);
    return rc;
}

/* dev_request_fn for rng_queue_process(); @ctx is the log. */
static int rng_serve(void *ctx, vq_queue *vq, const vq_snapshot *s, uint32_t *used_len)
{
    const struct cvmm_log *log = ctx;
    if (!s) { /* debug level: a guest must not be able to flood the log */
        cvmm_logf(log, CVMM_LOG_DEBUG, "rng: vq%u: request of more than %u descriptors: returned empty",
                  vq_queue_index(vq), DEV_CHAIN_DESCS_MAX);
        *used_len = 0;
        return 0;
    }
    int rc = rng_request(s, used_len);
    if (rc == -EIO || rc == -EPROTO)
        return rc;
    if (rc < 0) /* getrandom failed: return what was filled (maybe nothing) */
        cvmm_logf(log, CVMM_LOG_WARN, "rng: vq%u: getrandom: %s", vq_queue_index(vq), strerror(-rc));
    return 0;
}

int rng_queue_process(vq_queue *vq, const struct cvmm_log *log)
{
    return dev_queue_drain(vq, rng_serve, (void *)(uintptr_t)log); /* rng_serve() only reads it */
}
