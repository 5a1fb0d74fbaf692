/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vm-memory/shrink.c - a guest memory file that shrinks under its mapping (the fault guard), and the
 * guard pages around every mapping.  Before the fault guard, each truncation test died of SIGBUS. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "cvmm_test_exit.h"
#include "fault_stress.h"
#include "helpers.h"

static void start(void) { fd_mark(); }

TestSuite(vmem_shrink, .init = start, .fini = no_fd_leaked, .timeout = 120);

#define PAGE 4096u

/* A region of an unsealed memfd of @size bytes filled with 0x5a; *fd gets another fd of the same file. */
static vmem_region *unsealed_region(uint64_t gpa, uint64_t size, uint32_t flags, int *fd)
{
    *fd = zero_memfd(size);
    uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0x5a, size);
    munmap(p, size);
    vmem_region *r;
    vmem_region_desc d = {.gpa = gpa, .size = size, .flags = flags};
    cr_assert_eq(vmem_region_new_fd(&d, dup(*fd), &test_log, &r), 0);
    return r;
}

Test(vmem_shrink, sealed_memfd_is_recognised_and_not_guarded)
{
    vmem_region *own = memfd_region(0, 4 * PAGE, 0); /* vm-memory seals its own memfds */
    cr_assert_not(vmem_region_guarded(own));
    int fd = memfd_create("sealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 4 * PAGE), 0);
    cr_assert_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4 * PAGE};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), 0);
    cr_assert_not(vmem_region_guarded(r), "F_SEAL_SHRINK: the file cannot shrink");
    cr_assert_eq(ftruncate(fd, PAGE), -1, "the seal holds");
    vmem_region_unref(r);
    vmem_region_unref(own);
    close(fd);
}

Test(vmem_shrink, unsealed_and_anonymous_regions)
{
    int fd;
    vmem_region *r = unsealed_region(0, 4 * PAGE, 0, &fd);
    cr_assert(vmem_region_guarded(r));
    cr_assert_not(vmem_region_faulted(r));
    vmem_region *a = anon_region(0, 4 * PAGE, 0);
    cr_assert_not(vmem_region_guarded(a), "private memory cannot shrink");
    vmem_region_unref(a);
    vmem_region_unref(r);
    close(fd);
}

/* The core case: the front-end truncates the file; reads and writes of the lost part complete (reads see
 * zeros), the part still in the file is still shared, and the map reports the fault. */
Test(vmem_shrink, truncated_region_reads_zeros_and_reports_the_fault)
{
    int fd;
    vmem_region *rs[2] = {anon_region(0, 4 * PAGE, 0), unsealed_region(0x100000, 8 * PAGE, 0, &fd)};
    vmem_region *r = rs[1];
    vmem_map *m = map_of(rs, 2, NULL);
    cr_assert_eq(vmem_map_check(m, NULL), 0);
    cr_assert_eq(ftruncate(fd, 2 * PAGE), 0);

    uint8_t buf[64];
    cr_assert_eq(vmem_read(m, 0x100000 + 5 * PAGE, buf, sizeof(buf)), 0, "the read completes");
    for (size_t i = 0; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], 0, "a lost page reads zeros");
    cr_assert(vmem_region_faulted(r));
    size_t idx = 99;
    cr_assert_eq(vmem_map_check(m, &idx), -EIO);
    cr_assert_eq(idx, 1, "the faulted region's index in the map");

    /* Writes, typed accesses and raw pointers (as virtio-queue uses) to the lost part complete too. */
    cr_assert_eq(vmem_write(m, 0x100000 + 7 * PAGE + 8, "xyz", 3), 0);
    cr_assert_eq(vmem_store_le64(m, 0x100000 + 3 * PAGE, 7), 0);
    uint64_t v;
    cr_assert_eq(vmem_load_le64(m, 0x100000 + 3 * PAGE, &v), 0);
    cr_assert_eq(v, 7, "the zero pages are private memory of ours");
    volatile uint8_t *h = vmem_region_hva(r);
    h[8 * PAGE - 1] = 1;
    cr_assert_eq(h[8 * PAGE - 1], 1);

    /* The first two pages are still the file's. */
    cr_assert_eq(vmem_read(m, 0x100000 + PAGE, buf, 1), 0);
    cr_assert_eq(buf[0], 0x5a);
    cr_assert_eq(vmem_write(m, 0x100000 + PAGE, "A", 1), 0);
    uint8_t f;
    cr_assert_eq(pread(fd, &f, 1, PAGE), 1);
    cr_assert_eq(f, 'A', "still shared with the file");
    cr_assert_eq(lseek(fd, 0, SEEK_END), 2 * PAGE, "the file was not grown back");
    vmem_map_free(m);
    close(fd);
}

Test(vmem_shrink, read_only_region_reads_zeros)
{
    int fd;
    vmem_region *r = unsealed_region(0, 4 * PAGE, VMEM_REGION_READ_ONLY, &fd);
    vmem_map *m = map_of(&r, 1, NULL);
    cr_assert_eq(ftruncate(fd, 0), 0);
    uint32_t v = 1;
    cr_assert_eq(vmem_load_le32(m, 2 * PAGE, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(vmem_store_le32(m, 2 * PAGE, 1), -EPERM, "still read-only");
    cr_assert_eq(vmem_map_check(m, NULL), -EIO);
    vmem_map_free(m);
    close(fd);
}

/* An unaligned mmap_offset: the guarded range is the whole mapping, rounded out to pages. */
Test(vmem_shrink, region_at_an_offset_survives)
{
    int fd = zero_memfd(16 * PAGE);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0x8, .size = 8 * PAGE, .mmap_offset = 4 * PAGE + 8};
    cr_assert_eq(vmem_region_new_fd(&d, dup(fd), &test_log, &r), 0);
    vmem_map *m = map_of(&r, 1, NULL);
    cr_assert_eq(ftruncate(fd, 5 * PAGE), 0);
    uint64_t v = 1;
    cr_assert_eq(vmem_load_le64(m, 0x8 + 8 * PAGE - 8, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(vmem_map_check(m, NULL), -EIO);
    vmem_map_free(m);
    close(fd);
}

Test(vmem_shrink, truncated_dirty_log_is_survived_and_reported)
{
    vmem_region *r = memfd_region(0, 64 * PAGE, 0);
    int lfd = zero_memfd(PAGE);
    vmem_log *l;
    cr_assert_eq(vmem_log_new_fd(lfd, 0, PAGE, &test_log, &l), 0);
    vmem_map *m = map_of(&r, 1, l);
    vmem_log_unref(l);
    cr_assert_eq(ftruncate(lfd, 0), 0);
    cr_assert_eq(vmem_write(m, 10 * PAGE, "x", 1), 0, "marking the lost log page completes");
    size_t idx = 0;
    cr_assert_eq(vmem_map_check(m, &idx), -EIO);
    cr_assert_eq(idx, 1, "index == count: the dirty log");
    vmem_map_free(m);
    close(lfd);
}

Test(vmem_shrink, hugetlbfs_region_survives)
{
    int fd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
    if (fd < 0 || ftruncate(fd, 4 * MiB) < 0) {
        if (fd >= 0)
            close(fd);
        cr_skip_test("no huge pages on this machine");
    }
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4 * MiB};
    if (vmem_region_new_fd(&d, dup(fd), &test_log, &r) < 0) {
        close(fd);
        cr_skip_test("huge pages cannot be mapped");
    }
    vmem_map *m = map_of(&r, 1, NULL);
    cr_assert_eq(ftruncate(fd, 2 * MiB), 0);
    uint64_t v = 1;
    cr_assert_eq(vmem_load_le64(m, 3 * MiB + 8, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(vmem_map_check(m, NULL), -EIO);
    vmem_map_free(m);
    close(fd);
}

/* Threads: faults while other threads map and free guarded regions (fault_stress.h). */
Test(vmem_shrink, faults_while_regions_come_and_go)
{
    const char *err = fault_stress_run();
    cr_assert_null(err, "%s", err ? err : "");
}

/* ---- in forked children: what must still kill the process ---- */

/* Run @fn in a child; return its wait status.  The child must not use cr_assert (Criterion's messages
 * from a forked child hang it). */
static int in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        fn();
        cvmm_test_exit(0);
    }
    cr_assert_gt(pid, 0);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

static void user_bus_handler(int sig) { _exit(sig == SIGBUS ? 42 : 43); }

/* In a child: a guarded region (the guard is installed), and a truncated mapping of the same file outside
 * guest memory; touch the latter. */
static void fault_outside_guest_memory(void)
{
    int fd = memfd_create("child", MFD_CLOEXEC);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4 * PAGE};
    if (fd < 0 || ftruncate(fd, 4 * PAGE) < 0 || vmem_region_new_fd(&d, dup(fd), NULL, &r) < 0)
        cvmm_test_exit(1);
    uint8_t *other = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); /* not guest memory */
    if (other == MAP_FAILED || ftruncate(fd, 0) < 0)
        cvmm_test_exit(1);
    ((volatile uint8_t *)other)[2 * PAGE] = 1; /* SIGBUS, not ours */
    cvmm_test_exit(2);
}

/* The program's own handler was there first; a SIGBUS outside guest memory must still reach it. */
static void chained_child(void)
{
    signal(SIGBUS, user_bus_handler);
    fault_outside_guest_memory();
}

Test(vmem_shrink, a_fault_outside_guest_memory_goes_to_the_previous_handler)
{
    int st = in_child(chained_child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 42, "status 0x%x: the program's handler ran", st);
}

static void default_child(void)
{
    signal(SIGBUS, SIG_DFL);
    fault_outside_guest_memory();
}

Test(vmem_shrink, a_fault_outside_guest_memory_still_kills_by_default)
{
    int st = in_child(default_child);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status 0x%x: killed by SIGBUS", st);
}

/* A sent SIGBUS reaches the program's handler, which returns, and the program goes on: a plain handler,
 * an SA_SIGINFO one (with the sender's siginfo), and SIG_IGN (still ignored, not turned into a kill). */
static volatile sig_atomic_t handled;
static void returning_handler(int sig) { handled = sig == SIGBUS ? 1 : 2; }
static void returning_info_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    handled = sig == SIGBUS && si && si->si_code == SI_TKILL && si->si_pid == getpid() ? 3 : 4;
}

static void raise_under(const struct sigaction *sa)
{
    if (sigaction(SIGBUS, sa, NULL) < 0)
        cvmm_test_exit(1);
    int fd = memfd_create("child", MFD_CLOEXEC);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4 * PAGE};
    if (fd < 0 || ftruncate(fd, 4 * PAGE) < 0 || vmem_region_new_fd(&d, fd, NULL, &r) < 0)
        cvmm_test_exit(1);
    raise(SIGBUS); /* the guard's handler runs first (installed after @sa), then chains */
    vmem_region_unref(r);
    cvmm_test_exit(10 + handled);
}

/* A SIGBUS that was sent (no fault) is not ours either: with the default action it still kills. */
static void sent_child(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    raise_under(&sa);
}

Test(vmem_shrink, a_sent_sigbus_still_kills)
{
    int st = in_child(sent_child);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS, "status 0x%x: killed by SIGBUS", st);
}

static void plain_child(void)
{
    struct sigaction sa = {.sa_handler = returning_handler};
    raise_under(&sa);
}

static void info_child(void)
{
    struct sigaction sa = {.sa_sigaction = returning_info_handler, .sa_flags = SA_SIGINFO};
    raise_under(&sa);
}

static void ignored_child(void)
{
    struct sigaction sa = {.sa_handler = SIG_IGN, .sa_flags = SA_SIGINFO}; /* SA_SIGINFO: not a function */
    raise_under(&sa);
}

Test(vmem_shrink, a_sent_sigbus_reaches_a_handler_that_returns)
{
    int st = in_child(plain_child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 11, "status 0x%x: the plain handler ran and returned", st);
    st = in_child(info_child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 13, "status 0x%x: the SA_SIGINFO handler got the siginfo", st);
}

Test(vmem_shrink, a_sent_sigbus_stays_ignored)
{
    int st = in_child(ignored_child);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 10, "status 0x%x: ignored, as without the guard", st);
}

/* ---- guard pages ---- */
static vmem_region *guard_probe_region;
static long guard_probe_offset;

static void probe_child(void)
{
    signal(SIGSEGV, SIG_DFL); /* die of it, whatever the sanitizers installed */
    volatile uint8_t *h = vmem_region_hva(guard_probe_region);
    (void)h[guard_probe_offset];
    cvmm_test_exit(0);
}

static void expect_fault_at(vmem_region *r, long off)
{
    guard_probe_region = r;
    guard_probe_offset = off;
    int st = in_child(probe_child);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "byte %ld of region gpa 0x%llx: status 0x%x", off,
              (unsigned long long)vmem_region_gpa(r), st);
}

/* Regions made one after the other are usually adjacent in the address space: without guard pages, the
 * byte before one region is the last byte of the other and reads fine. */
Test(vmem_shrink, guard_pages_fault_just_outside_every_mapping)
{
    int fd;
    vmem_region *rs[3] = {anon_region(0, 4 * PAGE, 0), memfd_region(0x100000, 4 * PAGE, 0),
                          unsealed_region(0x200000, 4 * PAGE, 0, &fd)};
    for (int i = 0; i < 3; i++) {
        ((volatile uint8_t *)vmem_region_hva(rs[i]))[4 * PAGE - 1] = 1; /* inside: fine */
        expect_fault_at(rs[i], 4 * PAGE);
        expect_fault_at(rs[i], -1);
#if VMEM_TEST_WIDE_GUARDS
        expect_fault_at(rs[i], 4 * PAGE + 2 * MiB - 1);
        expect_fault_at(rs[i], -(long)(2 * MiB));
#endif
        vmem_region_unref(rs[i]);
    }
    close(fd);
}
