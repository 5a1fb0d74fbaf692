/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* A SIGBUS that is not a fault in guest memory goes on to the handler the program had installed before
 * vm-memory's fault guard, with its siginfo intact: an SA_SIGINFO handler sees the faulting address and
 * BUS_ADRERR (shrink.c checks a plain handler).  Run in a forked child, which ends through the handler.
 * A plain program, not a Criterion suite: Criterion's worker reports a forked grandchild's signals to its
 * runner ("a PID that is not a child process") and then waits for ever, which made this test hang under
 * `--jobs=2 --full-stats`.  Prints "fault_guard_chaining: ok" and exits 0, or says what went wrong. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvmm/vmem.h"
#include "cvmm_test_exit.h"
#include "cvmm_test_fds.h"

#define PAGE 4096u

static volatile uint8_t *fault_addr; /* the byte the child touches outside guest memory */

static sigjmp_buf back; /* the handler returns to the child's body, off the signal stack */
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
    *fault_addr = 1;             /* SIGBUS, not the guard's */
    cvmm_test_exit(2);
}

static int run_child(const struct sigaction *sa)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0)
        child(sa);
    int st;
    return waitpid(pid, &st, 0) == pid ? st : -1;
}

int main(void)
{
    int fds = cvmm_test_count_fds();
    struct sigaction sa = {.sa_sigaction = info_handler, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    int st = run_child(&sa);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 44) {
        printf("fault_guard_chaining: FAIL status 0x%x (44: the SA_SIGINFO handler got the right siginfo)\n", st);
        return 1;
    }
    if (cvmm_test_count_fds() != fds) {
        printf("fault_guard_chaining: FAIL fd leak\n");
        return 1;
    }
    printf("fault_guard_chaining: ok (an earlier SA_SIGINFO handler got the faulting address)\n");
    return 0;
}
