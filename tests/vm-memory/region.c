/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/region.c - creating regions from fds, memfd and anonymous memory (cvmm/vmem/region.h). */
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvmm_test_exit.h"
#include "helpers.h"

static void start(void) { fd_mark(); }

TestSuite(vmem_region, .init = start, .fini = no_fd_leaked, .timeout = 120);

Test(vmem_region, memfd_region_accessors)
{
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0x100000, .size = 3 * 4096, .user_addr = 0x7f00001000};
    cr_assert_eq(vmem_region_new_memfd(&d, &test_log, &r), 0);
    cr_assert_eq(vmem_region_gpa(r), 0x100000);
    cr_assert_eq(vmem_region_size(r), 3 * 4096);
    cr_assert_eq(vmem_region_user_addr(r), 0x7f00001000);
    cr_assert_eq(vmem_region_mmap_offset(r), 0);
    cr_assert_not(vmem_region_read_only(r));
    cr_assert_geq(vmem_region_fd(r), 3);
    cr_assert_eq(fcntl(vmem_region_fd(r), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "memfd is CLOEXEC");
    struct stat st;
    cr_assert_eq(fstat(vmem_region_fd(r), &st), 0);
    cr_assert_eq(st.st_size, 3 * 4096);
    uint8_t *h = vmem_region_hva(r);
    h[0] = 1;
    h[3 * 4096 - 1] = 2;
    vmem_region_unref(r);
}

/* No fd left (RLIMIT_NOFILE): memfd_create fails, and that is said and returned.  In a child: Criterion's
 * own threads need fds too. */
Test(vmem_region, memfd_region_without_a_free_fd_is_emfile)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit none = {.rlim_cur = 0, .rlim_max = 0};
        vmem_region *r = NULL;
        vmem_region_desc d = {.gpa = 0, .size = 4096};
        cap.lines = 0;
        if (getrlimit(RLIMIT_NOFILE, &none) < 0)
            cvmm_test_exit(1);
        none.rlim_cur = 0;
        if (setrlimit(RLIMIT_NOFILE, &none) < 0)
            cvmm_test_exit(1);
        int rc = vmem_region_new_memfd(&d, &test_log, &r);
        bool said = cap.lines == 1 && cap.last_level == CVMM_LOG_ERROR && strstr(cap.last, "memfd_create");
        cvmm_test_exit(rc == -EMFILE && !r && said ? 0 : 2);
    }
    cr_assert_gt(pid, 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x: -EMFILE, one error line, no region", st);
}

Test(vmem_region, anon_region_has_no_fd_and_is_zeroed)
{
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 5000};
    cr_assert_eq(vmem_region_new_anon(&d, &test_log, &r), 0);
    cr_assert_eq(vmem_region_fd(r), -1);
    uint8_t *h = vmem_region_hva(r);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(h[i], 0);
    h[4999] = 1;
    vmem_region_unref(r);
}

Test(vmem_region, noreserve_region_can_be_larger_than_memory)
{
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 64 * GiB, .flags = VMEM_REGION_NORESERVE};
    cr_assert_eq(vmem_region_new_anon(&d, &test_log, &r), 0);
    ((uint8_t *)vmem_region_hva(r))[64 * GiB - 1] = 7;
    vmem_region_unref(r);
}

/* The spec's mmap_offset: the region's first byte is at that offset of the fd, even when not page-aligned. */
Test(vmem_region, mmap_offset_is_honoured)
{
    int fd = zero_memfd(64 * KiB);
    uint8_t *whole = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(whole, MAP_FAILED);
    for (int i = 0; i < 64 * 1024; i++)
        whole[i] = (uint8_t)(i * 7);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0x10008, .size = 8 * KiB, .mmap_offset = 3 * 4096 + 8};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), 0);
    uint8_t *h = vmem_region_hva(r);
    for (int i = 0; i < 8 * 1024; i++)
        cr_assert_eq(h[i], (uint8_t)((3 * 4096 + 8 + i) * 7));
    /* Write through the region at an offset, read through the other mapping. */
    vmem_map *m = map_of(&r, 1, NULL);
    cr_assert_eq(vmem_write(m, 0x10008 + 100, "xyz", 3), 0);
    cr_assert_eq(memcmp(whole + 3 * 4096 + 8 + 100, "xyz", 3), 0);
    /* And the other way round. */
    whole[3 * 4096 + 8 + 8191] = 0x42;
    uint8_t b;
    cr_assert_eq(vmem_read(m, 0x10008 + 8191, &b, 1), 0);
    cr_assert_eq(b, 0x42);
    vmem_map_free(m);
    munmap(whole, 64 * KiB);
    close(fd);
}

Test(vmem_region, fd_is_owned_and_closed_with_the_region)
{
    int fd = zero_memfd(8192);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 8192};
    int before = count_fds();
    cr_assert_eq(vmem_region_new_fd(&d, fd, &test_log, &r), 0);
    cr_assert_eq(vmem_region_fd(r), fd);
    cr_assert_eq(count_fds(), before);
    vmem_region_unref(r);
    cr_assert_eq(count_fds(), before - 1);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "closed");
}

Test(vmem_region, refcount_keeps_the_mapping)
{
    vmem_region *r = memfd_region(0, 4096, 0);
    cr_assert_eq(vmem_region_ref(r), r);
    vmem_region_unref(r);
    uint8_t *h = vmem_region_hva(r);
    h[10] = 3; /* still mapped */
    vmem_region_unref(r);
    vmem_region_unref(NULL);
}

Test(vmem_region, read_only_region_maps_prot_read)
{
    int fd = zero_memfd(4096);
    uint8_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    w[5] = 9;
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4096, .flags = VMEM_REGION_READ_ONLY};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), 0);
    cr_assert(vmem_region_read_only(r));
    cr_assert_eq(((uint8_t *)vmem_region_hva(r))[5], 9);
    /* The mapping's permissions, as the kernel shows them. */
    char line[512], want[32];
    snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)vmem_region_hva(r));
    FILE *f = fopen("/proc/self/maps", "r");
    bool seen = false;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, want, strlen(want)) == 0) {
            seen = true;
            cr_assert(strstr(line, " r--s "), "maps line: %s", line);
        }
    fclose(f);
    cr_assert(seen);
    vmem_region_unref(r);
    munmap(w, 4096);
    close(fd);
}

Test(vmem_region, read_only_fd_maps_read_only)
{
    /* A front-end may hand a read-only fd for a read-only region: MAP_SHARED + PROT_READ must work. */
    char path[] = "/tmp/cvmm-vmem-roXXXXXX";
    int w = mkstemp(path);
    cr_assert_geq(w, 0);
    cr_assert_eq(ftruncate(w, 4096), 0);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    unlink(path);
    close(w);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4096, .flags = VMEM_REGION_READ_ONLY};
    cr_assert_eq(vmem_region_new_fd(&d, ro, &test_log, &r), 0);
    vmem_region_unref(r);
    /* Writable mapping of a read-only fd fails with mmap's errno, and the fd is still taken. */
    ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(ro, 0);
    d.flags = 0;
    cap.lines = 0;
    cr_assert_eq(vmem_region_new_fd(&d, ro, &test_log, &r), -EACCES);
    cr_assert_eq(cap.lines, 1);
    cr_assert(strstr(cap.last, "mmap"), "line: %s", cap.last);
    cr_assert_eq(fcntl(ro, F_GETFD), -1, "taken on failure too");
}

static void expect_einval(vmem_region_desc d, const char *why)
{
    vmem_region *r = NULL;
    int fd = zero_memfd(8192);
    cap.lines = 0;
    cr_assert_eq(vmem_region_new_fd(&d, fd, &test_log, &r), -EINVAL, "%s (fd)", why);
    cr_assert_eq(fcntl(fd, F_GETFD), -1, "%s: fd taken on failure", why);
    cr_assert_eq(cap.lines, 1, "%s: one log line", why);
    cr_assert_eq(cap.last_level, CVMM_LOG_ERROR);
    cr_assert_null(r);
    if (d.mmap_offset == 0) {
        cr_assert_eq(vmem_region_new_memfd(&d, &test_log, &r), -EINVAL, "%s (memfd)", why);
        cr_assert_eq(vmem_region_new_anon(&d, &test_log, &r), -EINVAL, "%s (anon)", why);
        cr_assert_null(r);
    }
}

Test(vmem_region, bad_descriptors_are_einval)
{
    expect_einval((vmem_region_desc){.gpa = 0, .size = 0}, "zero size");
    expect_einval((vmem_region_desc){.gpa = 0, .size = 4096, .flags = 1u << 7}, "unknown flag");
    expect_einval((vmem_region_desc){.gpa = UINT64_MAX - 4095, .size = 4097}, "gpa + size wraps");
    expect_einval((vmem_region_desc){.gpa = 8, .size = UINT64_MAX}, "gpa + huge size wraps");
    expect_einval((vmem_region_desc){.gpa = 0, .size = 4096, .mmap_offset = UINT64_MAX - 100}, "offset wraps");
    expect_einval((vmem_region_desc){.gpa = 0, .size = 4096, .user_addr = UINT64_MAX - 10}, "uva wraps");
    expect_einval((vmem_region_desc){.gpa = 4, .size = 4096}, "gpa misaligned against offset 0");
    expect_einval((vmem_region_desc){.gpa = 0, .size = 4096, .mmap_offset = 4100}, "offset misaligned");
}

Test(vmem_region, mmap_offset_must_be_zero_without_fd)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = 4096, .mmap_offset = 4096};
    cr_assert_eq(vmem_region_new_memfd(&d, &test_log, &r), -EINVAL);
    cr_assert_eq(vmem_region_new_anon(&d, &test_log, &r), -EINVAL);
    cr_assert_null(r);
}

Test(vmem_region, null_descriptor_is_einval)
{
    vmem_region *r = NULL;
    int fd = zero_memfd(4096);
    cr_assert_eq(vmem_region_new_fd(NULL, fd, &test_log, &r), -EINVAL);
    cr_assert_eq(fcntl(fd, F_GETFD), -1);
    cr_assert_eq(vmem_region_new_memfd(NULL, &test_log, &r), -EINVAL);
    cr_assert_eq(vmem_region_new_anon(NULL, &test_log, &r), -EINVAL);
}

Test(vmem_region, bad_fd_is_ebadf)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = 4096};
    cr_assert_eq(vmem_region_new_fd(&d, -1, &test_log, &r), -EBADF);
    cr_assert_eq(vmem_region_new_fd(&d, 1000, &test_log, &r), -EBADF); /* not open */
    cr_assert_null(r);
}

/* A mapping past the end of its file would SIGBUS on the first access: refused up front (as rust-vmm's
 * MappingPastEof). */
Test(vmem_region, region_past_the_end_of_its_file_is_einval)
{
    vmem_region *r = NULL;
    int fd = zero_memfd(8192);
    vmem_region_desc d = {.gpa = 0, .size = 4096, .mmap_offset = 4096};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), 0, "exactly up to the end");
    vmem_region_unref(r);
    r = NULL;
    d.size = 4097;
    cap.lines = 0;
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), -EINVAL);
    cr_assert_eq(cap.lines, 1);
    cr_assert(strstr(cap.last, "shorter than offset + size"), "line: %s", cap.last);
    d.size = 1ull << 62;
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), -EINVAL);
    cr_assert_null(r);
    close(fd);
}

Test(vmem_region, huge_anon_without_noreserve_fails_cleanly)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = 1ull << 62};
    cr_assert_eq(vmem_region_new_anon(&d, &test_log, &r), -ENOMEM);
    cr_assert_null(r);
    int before = count_fds();
    int rc = vmem_region_new_memfd(&d, &test_log, &r);
    cr_assert(rc == -ENOMEM || rc == -EFBIG || rc == -EINVAL, "rc %d", rc);
    cr_assert_eq(count_fds(), before, "the memfd is closed on failure");
    cr_assert_null(r);
}

Test(vmem_region, offsets_beyond_off_t_are_einval)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = 4096, .mmap_offset = 1ull << 63};
    cr_assert_eq(vmem_region_new_fd(&d, zero_memfd(4096), &test_log, &r), -EINVAL);
    cr_assert_null(r);
}

Test(vmem_region, sizes_near_2_64_fail_without_wrapping)
{
    vmem_region *r = NULL;
    vmem_region_desc d = {.gpa = 0, .size = UINT64_MAX - 100};
    cr_assert_eq(vmem_region_new_anon(&d, &test_log, &r), -EINVAL, "page round-up would wrap");
    d.size = (1ull << 63) + 4096;
    cr_assert_eq(vmem_region_new_memfd(&d, &test_log, &r), -EFBIG, "beyond off_t");
    d.size = UINT64_MAX - 100;
    cr_assert_eq(vmem_region_new_fd(&d, zero_memfd(4096), &test_log, &r), -EINVAL, "page round-up would wrap");
    cr_assert_null(r);
}

Test(vmem_region, memfd_size_is_sealed)
{
    vmem_region *r = memfd_region(0, 8192, 0);
    cr_assert_eq(ftruncate(vmem_region_fd(r), 4096), -1, "a shrink would turn accesses into SIGBUS");
    cr_assert_eq(errno, EPERM);
    vmem_region_unref(r);
}

/* On hugetlbfs the mapping must start at a huge-page boundary: the region rounds mmap_offset down to the
 * file's block size.  Skipped when the machine has no free huge pages. */
Test(vmem_region, hugetlbfs_offset_rounds_to_the_huge_page)
{
    const uint64_t huge = 2 * MiB;
    int fd = memfd_create("cvmm-huge", MFD_CLOEXEC | MFD_HUGETLB);
    if (fd < 0)
        cr_skip_test("no hugetlbfs memfd: %s", strerror(errno));
    if (ftruncate(fd, (off_t)(2 * huge)) != 0) {
        close(fd);
        cr_skip_test("hugetlbfs ftruncate: %s", strerror(errno));
    }
    uint8_t *w = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (w == MAP_FAILED) {
        close(fd);
        cr_skip_test("no free huge pages (vm.nr_hugepages)");
    }
    w[huge + 4096] = 0x77;
    w[huge + 8191] = 0x78;
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0x10000, .size = 4096, .mmap_offset = huge + 4096};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), 0);
    uint8_t *h = vmem_region_hva(r);
    cr_assert_eq(h[0], 0x77);
    cr_assert_eq(h[4095], 0x78);
    cr_assert_eq(((uintptr_t)h - 4096) % huge, 0, "mapped from the huge page boundary");
    vmem_region_unref(r);
    munmap(w, 2 * huge);
    close(fd);
}
