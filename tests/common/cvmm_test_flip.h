/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm_test_flip.h - a hostile guest vCPU for device tests: a thread that keeps storing two values in
 *  turn into a 32-bit little-endian guest field (a descriptor's len) while the device works, so that a
 *  device reading the field twice sees both.  The stores are relaxed atomics; the device reads guest
 *  memory with plain memcpy, as it must, so a test using this races on purpose and is not for
 *  ThreadSanitizer (guard it with CVMM_TEST_FLIP_OK). */
#ifndef CVMM_TEST_FLIP_H
#define CVMM_TEST_FLIP_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cvmm/vmem/atomic.h"

#if defined(__SANITIZE_THREAD__)
#define CVMM_TEST_FLIP_OK 0
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CVMM_TEST_FLIP_OK 0
#endif
#endif
#ifndef CVMM_TEST_FLIP_OK
#define CVMM_TEST_FLIP_OK 1
#endif

struct cvmm_test_flip {
    pthread_t th;
    void *field; /* host address of the guest's le32 */
    uint32_t v[2];
    atomic_bool stop;
    atomic_ulong flips;
};

static inline void *cvmm_test_flip_run(void *arg)
{
    struct cvmm_test_flip *f = arg;
    for (unsigned long i = 0; !atomic_load_explicit(&f->stop, memory_order_relaxed); i++) {
        vmem_hva_store_relaxed_le32(f->field, f->v[i & 1]);
        atomic_fetch_add_explicit(&f->flips, 1, memory_order_relaxed);
        /* On a loaded machine this thread and the device may share a CPU: without a yield the device's
         * cvmm_test_flip_wait() would give it a whole time slice per request, and a test of 1000
         * requests would take minutes.  On a CPU of its own the yield returns at once.  An odd period
         * leaves the two values in turn for a device that only runs while this thread yields. */
        if (i % 1025 == 1024)
            sched_yield();
    }
    return NULL;
}

/** cvmm_test_flip_start() - flip *@field between @a and @b until cvmm_test_flip_stop().
 *  Return: 0 or pthread_create's error. */
static inline int cvmm_test_flip_start(struct cvmm_test_flip *f, void *field, uint32_t a, uint32_t b)
{
    f->field = field;
    f->v[0] = a;
    f->v[1] = b;
    atomic_init(&f->stop, false);
    atomic_init(&f->flips, 0);
    return pthread_create(&f->th, NULL, cvmm_test_flip_run, f);
}

/** cvmm_test_flip_wait() - yield until the thread flipped @n more times (it runs, not only exists). */
static inline void cvmm_test_flip_wait(struct cvmm_test_flip *f, unsigned long n)
{
    unsigned long from = atomic_load(&f->flips);
    while (atomic_load(&f->flips) - from < n)
        sched_yield();
}

/** cvmm_test_flip_stop() - end the thread, leave @final in the field.  Return: flips made. */
static inline unsigned long cvmm_test_flip_stop(struct cvmm_test_flip *f, uint32_t final)
{
    atomic_store(&f->stop, true);
    pthread_join(f->th, NULL);
    vmem_hva_store_relaxed_le32(f->field, final);
    return atomic_load(&f->flips);
}

#endif
