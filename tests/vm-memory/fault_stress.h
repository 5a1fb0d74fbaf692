/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** tests/vm-memory/fault_stress.h - the fault guard under threads, shared by shrink.c (Criterion) and
 *  guest_tsan.c (plain, for ThreadSanitizer): threads map guarded regions, fault in every other one and
 *  free them, so registrations come and go while handlers run on other threads. */
#ifndef CVMM_TESTS_VMEM_FAULT_STRESS_H
#define CVMM_TESTS_VMEM_FAULT_STRESS_H

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/vmem.h"

#define FAULT_STRESS_THREADS 4
#define FAULT_STRESS_ROUNDS 200
#define FAULT_STRESS_PAGE 4096u

static void *fault_stress_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < FAULT_STRESS_ROUNDS; i++) {
        int fd = memfd_create("stress", MFD_CLOEXEC);
        if (fd < 0 || ftruncate(fd, 4 * FAULT_STRESS_PAGE) < 0)
            return (void *)"memfd";
        vmem_region *r;
        vmem_region_desc d = {.gpa = 0, .size = 4 * FAULT_STRESS_PAGE};
        if (vmem_region_new_fd(&d, fd, NULL, &r) < 0)
            return (void *)"region";
        if (i & 1) { /* every other round: a fault, then free */
            if (ftruncate(vmem_region_fd(r), FAULT_STRESS_PAGE) < 0)
                return (void *)"ftruncate";
            volatile uint8_t *h = vmem_region_hva(r);
            if (h[3 * FAULT_STRESS_PAGE] != 0 || !vmem_region_faulted(r))
                return (void *)"fault not handled";
        }
        vmem_region_unref(r);
    }
    return NULL;
}

/* Run the stress; return NULL or what went wrong. */
static const char *fault_stress_run(void)
{
    pthread_t th[FAULT_STRESS_THREADS];
    const char *err = NULL;
    int n = 0;
    for (; n < FAULT_STRESS_THREADS; n++)
        if (pthread_create(&th[n], NULL, fault_stress_thread, NULL) != 0) {
            err = "pthread_create";
            break;
        }
    for (int i = 0; i < n; i++) {
        void *res;
        if (pthread_join(th[i], &res) == 0 && res && !err)
            err = res;
    }
    return err;
}

#endif
