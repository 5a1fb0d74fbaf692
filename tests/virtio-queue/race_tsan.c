/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* race_tsan.c - a driver thread and a device thread on one ring, both layouts, EVENT_IDX on and off: every
 * buffer is processed and no kick is lost.  A plain program (not Criterion) so that it also runs under
 * ThreadSanitizer (Criterion cannot start there: Snaipe/Criterion#274).  Exit status 0 on success. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"

#define N 20000u
#define RING 0x10000ull

struct race {
    vq_queue *q;
    int kick;
    atomic_uint done;
    atomic_bool exited; /* the device thread gave up: the driver must not wait for it */
    int error;
};

static void *device(void *arg)
{
    struct race *r = arg;
    vq_chain c;
    vq_desc_info d;
    for (;;) {
        int more;
        do {
            if (vq_disable_notification(r->q) < 0)
                goto fail;
            int rc;
            while ((rc = vq_pop(r->q, &c)) == 1) {
                uint64_t sum = 0;
                while ((rc = vq_chain_next(r->q, &c, &d)) == 1)
                    sum += d.len;
                if (rc < 0 || sum == 0 || vq_add_used(r->q, c.head, 0) < 0)
                    goto fail;
                atomic_fetch_add(&r->done, 1);
            }
            if (rc < 0)
                goto fail;
            more = vq_enable_notification(r->q);
            if (more < 0)
                goto fail;
        } while (more == 1);
        if (atomic_load(&r->done) == N)
            return NULL;
        struct pollfd p = {.fd = r->kick, .events = POLLIN};
        if (poll(&p, 1, 30000) != 1) { /* 30 s: a loaded machine's scheduling never takes that long */
            fprintf(stderr, "race: no kick for 30 s with %u of %u done: a lost kick\n", atomic_load(&r->done), N);
            r->error = 1;
            atomic_store(&r->exited, true);
            return NULL;
        }
        uint64_t v;
        if (read(r->kick, &v, sizeof(v)) != sizeof(v))
            goto fail;
    }
fail:
    fprintf(stderr, "race: device error (broken %d)\n", vq_queue_broken(r->q));
    r->error = 1;
    atomic_store(&r->exited, true);
    return NULL;
}

static int run(vmem_map *map, enum vq_layout layout, bool event_idx)
{
    vq_queue_config qc = {.max_size = 256, .layout = layout, .event_idx = event_idx};
    vq_mock_config mc = {.layout = layout,
                         .size = 256,
                         .event_idx = event_idx,
                         .desc_gpa = RING,
                         .driver_gpa = RING + 0x1000,
                         .device_gpa = RING + 0x2000};
    struct race r = {.kick = eventfd(0, EFD_CLOEXEC)};
    vq_mock *mk = NULL;
    int bad =
        r.kick < 0 || vq_queue_new(&qc, &r.q) < 0 || vq_mock_new(map, &mc, &mk) < 0 || vq_mock_attach(mk, r.q) < 0;
    pthread_t t;
    if (bad || pthread_create(&t, NULL, device, &r) != 0) {
        fprintf(stderr, "race: set-up failed\n");
        return 1;
    }
    uint16_t h;
    uint32_t l;
    for (unsigned i = 0; i < N && !bad && !atomic_load(&r.exited); i++) {
        while (vq_mock_free_descs(mk) < 2 && !bad && !atomic_load(&r.exited)) {
            int rc = vq_mock_used(mk, &h, &l);
            if (rc < 0)
                bad = 1;
            else if (rc == 0)
                sched_yield();
        }
        vq_mock_buf b[2] = {{0x100000 + 64 * (i % 64), 64, false}, {0x200000, 16, true}};
        if (vq_mock_add(mk, b, 1 + i % 2, NULL) < 0)
            bad = 1;
        if (vq_mock_kick_needed(mk)) {
            uint64_t one = 1;
            if (write(r.kick, &one, sizeof(one)) != sizeof(one))
                bad = 1;
        }
    }
    pthread_join(t, NULL);
    if (!bad && atomic_load(&r.done) != N)
        bad = 1;
    printf("race %s%s: %u chains, %s\n", layout == VQ_LAYOUT_SPLIT ? "split" : "packed", event_idx ? " event_idx" : "",
           atomic_load(&r.done), bad || r.error ? "FAILED" : "ok");
    vq_mock_free(mk);
    vq_queue_free(r.q);
    close(r.kick);
    return bad || r.error;
}

int main(void)
{
    vmem_region_desc d = {.gpa = 0, .size = 4ull << 20};
    vmem_region *reg;
    vmem_map *map;
    if (vmem_region_new_memfd(&d, NULL, &reg) < 0 || vmem_map_new(&reg, 1, NULL, NULL, &map) < 0)
        return 1;
    int fails = 0;
    fails += run(map, VQ_LAYOUT_SPLIT, false);
    fails += run(map, VQ_LAYOUT_SPLIT, true);
    fails += run(map, VQ_LAYOUT_PACKED, false);
    fails += run(map, VQ_LAYOUT_PACKED, true);
    vmem_map_free(map);
    vmem_region_unref(reg);
    return fails ? 1 : 0;
}
