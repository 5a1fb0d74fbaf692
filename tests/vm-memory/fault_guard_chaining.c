/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A SIGBUS that is not a fault in guest memory goes on to the handler the program had installed before
 * vm-memory's fault guard, with its siginfo intact: an SA_SIGINFO handler sees the faulting address and
 * BUS_ADRERR (shrink.c checks a plain handler).  Run in a forked child, which ends through the handler. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>

#include "cvmm_test_exit.h"
#include "helpers.h"

#define PAGE 4096u

static void start(void) { fd_mark(); }
TestSuite(fault_guard_chaining, .init = start, .fini = no_fd_leaked, .timeout = 120);

static volatile uint8_t *fault_addr; /* the byte the child touches outside guest memory */

static sigjmp_buf back;            /* the handler returns to the child's body, off the signal stack */
static volatile sig_atomic_t verdict;

static void info_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    verdict = sig == SIGBUS && si && si->si_code == BUS_ADRERR && si->si_addr == (void *)fault_addr ? 44 : 45;
    siglongjmp(back, 1);
}

/* In a child: install @sa first, then a guarded region (the guard chains to @sa), then touch a truncated
 * mapping outside guest memory. */
static void child(const struct sigaction *sa)
{
    if (sigaction(SIGBUS, sa, NULL) < 0)
        cvmm_test_exit(1);
    int fd = memfd_create("child", MFD_CLOEXEC);
    vmem_region *r;
    vmem_region_desc d = {.gpa = 0, .size = 4 * PAGE};
    if (fd < 0 || ftruncate(fd, 4 * PAGE) < 0 || vmem_region_new_fd(&d, dup(fd), NULL, &r) < 0)
        cvmm_test_exit(1);
    uint8_t *other = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0); /* not guest memory */
    if (other == MAP_FAILED || ftruncate(fd, 0) < 0)
        cvmm_test_exit(1);
    fault_addr = other + 2 * PAGE;
    if (sigsetjmp(back, 1))
        cvmm_test_exit(verdict); /* writes coverage from an ordinary stack */
    *fault_addr = 1; /* SIGBUS, not the guard's */
    cvmm_test_exit(2);
}

static int run_child(const struct sigaction *sa)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        child(sa);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return st;
}

Test(fault_guard_chaining, an_siginfo_handler_installed_before_gets_the_faulting_address)
{
    struct sigaction sa = {.sa_sigaction = info_handler, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    int st = run_child(&sa);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 44, "status 0x%x: 44 is the handler with the right siginfo", st);
}
