/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/nomem.c - every -ENOMEM path: allocation failures leave nothing behind.
 *
 * The test binary interposes malloc() and calloc() (the library has no allocator hook, by design) and
 * makes them fail while `fail_alloc` is set (after `allow` more successes).  Sanitizer builds own malloc, so
 * there the tests are skipped. */
#include <fcntl.h>

#include "helpers.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NOMEM_SKIP 1
#else
#define NOMEM_SKIP 0
#endif

static bool fail_alloc;
static int allow; /* allocations that still succeed while fail_alloc is set */

#if !NOMEM_SKIP
static bool refuse(void) { return fail_alloc && allow-- <= 0; }

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);

void *malloc(size_t n) { return refuse() ? NULL : __libc_malloc(n); }
void *calloc(size_t n, size_t size) { return refuse() ? NULL : __libc_calloc(n, size); }
#endif

static void start(void)
{
    if (NOMEM_SKIP)
        cr_skip_test("sanitizer builds own malloc()");
    fd_mark();
}

static void stop(void)
{
    fail_alloc = false;
    no_fd_leaked();
}

TestSuite(vmem_nomem, .init = start, .fini = stop, .timeout = 120);

Test(vmem_nomem, regions)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = 4096};
    int fd = zero_memfd(4096);
    fail_alloc = true;
    allow = 0;
    int a = vmem_region_new_anon(&d, &test_log, &r);
    int m = vmem_region_new_memfd(&d, &test_log, &r); /* creates a memfd, then fails: must close it */
    int f = vmem_region_new_fd(&d, fd, &test_log, &r);
    fail_alloc = false;
    cr_assert_eq(a, -ENOMEM);
    cr_assert_eq(m, -ENOMEM);
    cr_assert_eq(f, -ENOMEM);
    cr_assert_null(r);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the owned fd is closed on failure");
}

/* A region of an unsealed fd is registered with the fault guard, whose first registration in a process
 * allocates its slot table (each test runs in a fresh process): a failure there fails the region. */
Test(vmem_nomem, guarding_an_unsealed_region)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = 4096};
    int fd = zero_memfd(4096);
    fail_alloc = true;
    allow = 1; /* the region itself */
    int rc = vmem_region_new_fd(&d, fd, &test_log, &r);
    fail_alloc = false;
    cr_assert_eq(rc, -ENOMEM);
    cr_assert_null(r);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "the owned fd is closed on failure");
    cr_assert(strstr(cap.last, "fault guard: out of memory"), "logged: %s", cap.last);
}

Test(vmem_nomem, maps_keep_no_reference)
{
    /* A memfd region: if a failed map kept a reference, its fd would outlive the final unref. */
    vmem_region *r = memfd_region(0, 4096, 0), *r2 = memfd_region(8192, 4096, 0);
    vmem_map *m = map_of(&r2, 1, NULL), *out = NULL;
    int fd = zero_memfd(4096);
    vmem_log *l;
    cr_assert_eq(vmem_log_new_fd(fd, 0, 64, &test_log, &l), 0);
    close(fd);
    fail_alloc = true;
    allow = 0;
    int rc_new = vmem_map_new(&r, 1, l, &test_log, &out);
    int rc_with = vmem_map_with_region(m, r, &out);
    int rc_without = vmem_map_without_region(m, 8192, 4096, 0, &out);
    int rc_log = vmem_map_with_log(m, l, &out);
    fail_alloc = false;
    cr_assert_eq(rc_new, -ENOMEM);
    cr_assert_eq(rc_with, -ENOMEM);
    cr_assert_eq(rc_without, -ENOMEM);
    cr_assert_eq(rc_log, -ENOMEM);
    cr_assert_null(out);
    cr_assert_eq(vmem_map_count(m), 1, "the source map is unchanged");
    vmem_region_unref(r); /* closes its memfd now, or .fini finds a leak */
    vmem_log_unref(l);
    vmem_map_free(m);
}

Test(vmem_nomem, dirty_log)
{
    int fd = zero_memfd(4096);
    vmem_log *l = NULL;
    fail_alloc = true;
    allow = 0;
    int rc = vmem_log_new_fd(fd, 0, 64, &test_log, &l);
    fail_alloc = false;
    cr_assert_eq(rc, -ENOMEM);
    cr_assert_null(l);
    close(fd);
}

Test(vmem_nomem, guest_and_reader)
{
    vmem_guest *g = NULL;
    vmem_reader *r = NULL;
    for (int n = 0; n < 2; n++) { /* the guest itself, then its first (empty) map */
        fail_alloc = true;
        allow = n;
        int rc = vmem_guest_new(&test_log, &g);
        fail_alloc = false;
        cr_assert_eq(rc, -ENOMEM, "allocation %d fails", n);
        cr_assert_null(g);
    }
    cr_assert_eq(vmem_guest_new(&test_log, &g), 0);
    fail_alloc = true;
    allow = 0;
    int rc = vmem_reader_register(g, &r);
    fail_alloc = false;
    cr_assert_eq(rc, -ENOMEM);
    cr_assert_null(r);
    vmem_map *m = NULL;
    cr_assert_eq(vmem_map_new(NULL, 0, NULL, &test_log, &m), 0);
    cr_assert_eq(vmem_guest_publish(g, m), 0, "no reader was left registered");
    vmem_guest_free(g);
}

Test(vmem_nomem, the_interposer_works)
{
    fail_alloc = true;
    allow = 1;
    void *a = malloc(16), *b = malloc(16);
    fail_alloc = false;
    cr_assert_not_null(a);
    cr_assert_null(b);
    free(a);
}
