/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/guest_tsan.c - the threaded vm-memory checks as a plain program, for ThreadSanitizer.
 *
 * Criterion 2.4 cannot start under TSan: BoxFort maps its inheritable arena at a random address in
 * [0x200000000000, 0x7f0000000000), which TSan reserves for its shadow, and Criterion aborts with
 * "Could not initialize inheritable arena" (Snaipe/Criterion#274).  So the map-swap stress (shared with
 * the Criterion suite guest.c through guest_stress.h), a grace-period check and concurrent dirty-log marks
 * run here without Criterion, and so do faults in shrinking guarded regions while others come and go
 * (fault_stress.h, shared with shrink.c); ctest runs this program in every build, labelled "tsan" too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fault_stress.h"
#include "guest_stress.h"

static int failures;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "guest_tsan: %s:%d: ", __FILE__, __LINE__);                                                \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static vmem_map *tagged_map(uint64_t gpa, uint8_t tag)
{
    vmem_region *r;
    vmem_map *m = NULL;
    vmem_region_desc d = {.gpa = gpa, .size = 4096};
    if (vmem_region_new_anon(&d, NULL, &r) != 0)
        return NULL;
    memset(vmem_region_hva(r), tag, 4096);
    if (vmem_map_new(&r, 1, NULL, NULL, &m) != 0)
        m = NULL;
    vmem_region_unref(r);
    return m;
}

/* ---- a reader holds the old map while another thread publishes ---------------------------------------- */
struct holder {
    vmem_guest *g;
    atomic_int stage; /* 1 holding, 2 release, 3 released */
    uint8_t seen;
};

static void *holder_thread(void *arg)
{
    struct holder *h = arg;
    vmem_reader *r;
    if (vmem_reader_register(h->g, &r) != 0)
        return (void *)1;
    const vmem_map *m = vmem_reader_map(r);
    atomic_store(&h->stage, 1);
    while (atomic_load(&h->stage) != 2)
        sleep_ms(1);
    int rc = vmem_read(m, 0, &h->seen, 1);
    vmem_reader_quiescent(r);
    vmem_reader_unregister(r);
    return rc ? (void *)2 : NULL;
}

struct publisher {
    vmem_guest *g;
    vmem_map *m;
    atomic_int done;
    int rc;
};

static void *publisher_thread(void *arg)
{
    struct publisher *p = arg;
    p->rc = vmem_guest_publish(p->g, p->m);
    atomic_store(&p->done, 1);
    return NULL;
}

static void writer_waits_for_reader(vmem_guest *g)
{
    CHECK(vmem_guest_publish(g, tagged_map(0, 0x11)) == 0, "publish");
    struct holder h = {.g = g};
    pthread_t th, tp;
    CHECK(pthread_create(&th, NULL, holder_thread, &h) == 0, "pthread_create");
    while (atomic_load(&h.stage) != 1)
        sleep_ms(1);
    struct publisher p = {.g = g, .m = tagged_map(0, 0x22)};
    CHECK(pthread_create(&tp, NULL, publisher_thread, &p) == 0, "pthread_create");
    sleep_ms(50);
    CHECK(atomic_load(&p.done) == 0, "publish returned while a reader held the old map");
    atomic_store(&h.stage, 2);
    void *hr;
    pthread_join(th, &hr);
    pthread_join(tp, NULL);
    CHECK(hr == NULL, "holder failed");
    CHECK(h.seen == 0x11, "held map changed: 0x%x", h.seen);
    CHECK(p.rc == 0, "publish rc %d", p.rc);
}

/* ---- concurrent dirty-log marks ----------------------------------------------------------------------- */
struct marker {
    vmem_log *l;
    uint64_t first;
};

static void *marker_thread(void *arg)
{
    struct marker *mk = arg;
    for (uint64_t p = mk->first; p < 64 * 8; p += 2)
        if (vmem_log_mark(mk->l, p * VMEM_LOG_PAGE, 1) != 0)
            return (void *)1;
    return NULL;
}

static void concurrent_log_marks(void)
{
    int fd = memfd_create("log", MFD_CLOEXEC);
    CHECK(fd >= 0 && ftruncate(fd, 4096) == 0, "memfd");
    vmem_log *l;
    CHECK(vmem_log_new_fd(fd, 0, 64, NULL, &l) == 0, "vmem_log_new_fd");
    close(fd);
    for (int round = 0; round < 20; round++) {
        memset((void *)(uintptr_t)vmem_log_bitmap(l), 0, 64);
        struct marker a = {l, 0}, b = {l, 1};
        pthread_t ta, tb;
        void *ra, *rb;
        pthread_create(&ta, NULL, marker_thread, &a);
        pthread_create(&tb, NULL, marker_thread, &b);
        pthread_join(ta, &ra);
        pthread_join(tb, &rb);
        CHECK(!ra && !rb, "mark failed");
        for (int i = 0; i < 64; i++)
            CHECK(vmem_log_bitmap(l)[i] == 0xff, "round %d byte %d: 0x%x", round, i, vmem_log_bitmap(l)[i]);
    }
    vmem_log_unref(l);
}

int main(void)
{
    vmem_guest *g;
    if (vmem_guest_new(NULL, &g) != 0)
        return 1;
    unsigned long reads = 0;
    const char *err = stress_run(g, NULL, 2000, &reads);
    CHECK(err == NULL, "stress: %s", err);
    printf("guest_tsan: %lu reads during 2000 publishes\n", reads);
    writer_waits_for_reader(g);
    vmem_guest_free(g);
    concurrent_log_marks();
    const char *ferr = fault_stress_run();
    CHECK(ferr == NULL, "fault stress: %s", ferr);
    printf("guest_tsan: %s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
