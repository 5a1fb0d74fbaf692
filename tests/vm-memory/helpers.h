/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** tests/vm-memory/helpers.h - shared fixtures of the vm-memory tests: fd-leak checks, a capturing logger,
 *  region/map builders. */
#ifndef CVMM_TESTS_VMEM_HELPERS_H
#define CVMM_TESTS_VMEM_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm_test_fds.h"

/* ---- fd leak check ---------------------------------------------------------------------------------- */
static inline int count_fds(void)
{
    int n = cvmm_test_count_fds();
    cr_assert_geq(n, 0, "cannot read /proc/self/fd");
    return n;
}

static int fds_at_start;
static inline void fd_mark(void) { fds_at_start = count_fds(); }
static inline void no_fd_leaked(void) { cr_assert_eq(count_fds(), fds_at_start, "fd leaked"); }

/* ---- capturing logger ---------------------------------------------------------------------------------- */
struct cap_log {
    int lines;
    enum cvmm_log_level last_level;
    char last[CVMM_LOG_LINE_MAX];
};
static struct cap_log cap;
static inline void cap_fn(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    struct cap_log *c = opaque;
    c->lines++;
    c->last_level = lvl;
    snprintf(c->last, sizeof(c->last), "%s", line);
}
static const struct cvmm_log test_log = {.fn = cap_fn, .opaque = &cap, .level = CVMM_LOG_DEBUG};

/* ---- builders ------------------------------------------------------------------------------------------ */
#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

static inline vmem_region *memfd_region(uint64_t gpa, uint64_t size, uint32_t flags)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = gpa, .size = size, .flags = flags};
    int rc = vmem_region_new_memfd(&d, &test_log, &r);
    cr_assert_eq(rc, 0, "memfd region gpa 0x%llx: %s", (unsigned long long)gpa, strerror(-rc));
    return r;
}

static inline vmem_region *anon_region(uint64_t gpa, uint64_t size, uint32_t flags)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = gpa, .size = size, .flags = flags};
    int rc = vmem_region_new_anon(&d, &test_log, &r);
    cr_assert_eq(rc, 0, "anon region gpa 0x%llx: %s", (unsigned long long)gpa, strerror(-rc));
    return r;
}

/* A map of @n regions; the map holds the only references afterwards. */
static inline vmem_map *map_of(vmem_region **rs, size_t n, vmem_log *dlog)
{
    vmem_map *m = NULL;
    int rc = vmem_map_new(rs, n, dlog, &test_log, &m);
    cr_assert_eq(rc, 0, "map: %s", strerror(-rc));
    for (size_t i = 0; i < n; i++)
        vmem_region_unref(rs[i]);
    return m;
}

/* An fd of @size zero bytes (memfd). */
static inline int zero_memfd(uint64_t size)
{
    int fd = memfd_create("test", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)size), 0);
    return fd;
}

#endif
