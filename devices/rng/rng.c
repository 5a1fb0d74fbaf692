/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* rng.c - rng_request() (rng.h). */
#include "rng.h"

#include <errno.h>
#include <sys/random.h>

#include "cvmm/vq/rw.h"

int rng_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx, (void)q;
    uint8_t buf[4096];
    vq_writer w;
    vq_writer_init(&w, s);
    uint64_t todo = vq_writer_bytes_left(&w); /* from the snapshot: the guest cannot change it */
    todo = todo < RNG_CHAIN_MAX ? todo : RNG_CHAIN_MAX;
    int rc = 0;
    while (todo > 0 && rc == 0) {
        ssize_t n = getrandom(buf, todo < sizeof(buf) ? (size_t)todo : sizeof(buf), 0);
        if (n < 0 && errno != EINTR)
            break; /* no entropy to give: the driver gets what was filled */
        if (n > 0 && (rc = vq_writer_write(&w, buf, (size_t)n)) == 0)
            todo -= (uint64_t)n;
    }
    *used_len = (uint32_t)vq_writer_bytes_written(&w);
    return rc;
}
