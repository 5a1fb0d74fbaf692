/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* SET_DEVICE_STATE_FD when the back-end cannot set the transfer up: its cancel eventfd, its pipe, the relay
 * thread or the device's thread fails.  Each gets a failed status, a log line naming the errno, the
 * front-end's fd closed (its pipe sees EOF), no fd left behind, and the next transfer works.
 *
 * The test binary interposes eventfd(), pipe2() and pthread_create() and fails the chosen call only on the
 * daemon's control thread, so what fails does not depend on timing.  Sanitizer runtimes intercept
 * pthread_create themselves, so there the test is skipped. */
#include <dlfcn.h>
#include <fcntl.h>

#include "vub_test.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define INTERPOSE_SKIP 1
#else
#define INTERPOSE_SKIP 0
#endif

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

enum fail_what { FAIL_NONE, FAIL_EVENTFD, FAIL_PIPE2, FAIL_THREAD1, FAIL_THREAD2 };
static atomic_int fail_what;    /* what the control thread's next calls fail */
static atomic_int threads_seen; /* pthread_create calls by the control thread while armed */

static bool on_control_thread(void) { return vt.running && pthread_equal(pthread_self(), vt.th); }

#if !INTERPOSE_SKIP
int eventfd(unsigned int initval, int flags)
{
    static int (*real)(unsigned int, int);
    if (!real)
        real = (int (*)(unsigned int, int))dlsym(RTLD_NEXT, "eventfd");
    if (atomic_load(&fail_what) == FAIL_EVENTFD && on_control_thread()) {
        errno = EMFILE;
        return -1;
    }
    return real(initval, flags);
}

int pipe2(int fds[2], int flags)
{
    static int (*real)(int[2], int);
    if (!real)
        real = (int (*)(int[2], int))dlsym(RTLD_NEXT, "pipe2");
    if (atomic_load(&fail_what) == FAIL_PIPE2 && on_control_thread()) {
        errno = ENFILE;
        return -1;
    }
    return real(fds, flags);
}

typedef int create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static create_fn *real;
    if (!real)
        real = (create_fn *)dlsym(RTLD_NEXT, "pthread_create");
    int w = atomic_load(&fail_what);
    if ((w == FAIL_THREAD1 || w == FAIL_THREAD2) && on_control_thread() &&
        atomic_fetch_add(&threads_seen, 1) + 1 == (w == FAIL_THREAD1 ? 1 : 2))
        return EAGAIN;
    return real(t, a, fn, arg);
}
#endif

static void init_state(void)
{
    if (INTERPOSE_SKIP)
        cr_skip_test("sanitizer runtimes intercept pthread_create");
    atomic_store(&fail_what, FAIL_NONE);
    atomic_store(&threads_seen, 0);
    vt_init();
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(DEVICE_STATE));
}
TestSuite(state_transfer_failures, .init = init_state, .fini = vt_fini, .timeout = 120);

/* A SAVE whose setup fails with @what: refused, logged with @err, and the front-end's fd closed. */
static void save_fails(enum fail_what what, const char *err)
{
    int p[2], bfd = -2;
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    atomic_store(&fail_what, what);
    int rc = vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                              VHU_TRANSFER_STATE_PHASE_STOPPED, p[1], &bfd);
    atomic_store(&fail_what, FAIL_NONE);
    close(p[1]);
    cr_assert_eq(rc, -EREMOTEIO, "a failed status");
    char line[128];
    snprintf(line, sizeof(line), "tdev: SET_DEVICE_STATE_FD refused: %s", err);
    cr_assert(vt_logged(line), "'%s' logged", line);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    cr_assert_eq(poll(&pf, 1, VT_WAIT_MS), 1);
    char b;
    cr_assert_eq(read(p[0], &b, 1), 0, "EOF: the back-end kept no copy of the front-end's fd");
    close(p[0]);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO, "no transfer to check");
}

/* The next transfer works: the device's byte arrives and the check passes. */
static void save_works(void)
{
    int p[2], bfd = -2;
    vt.dev.state_byte = 0x6c;
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE,
                                                  VHU_TRANSFER_STATE_PHASE_STOPPED, p[1], &bfd),
                 0);
    close(p[1]);
    uint8_t b[4];
    cr_assert_eq(read(p[0], b, sizeof(b)), 1);
    cr_assert_eq(b[0], 0x6c);
    close(p[0]);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
}

Test(state_transfer_failures, no_cancel_eventfd)
{
    save_fails(FAIL_EVENTFD, strerror(EMFILE));
    save_works();
}

Test(state_transfer_failures, no_pipe)
{
    save_fails(FAIL_PIPE2, strerror(ENFILE));
    save_works();
}

Test(state_transfer_failures, the_relay_thread_cannot_start)
{
    save_fails(FAIL_THREAD1, strerror(EAGAIN));
    cr_assert_eq(atomic_load(&threads_seen), 1);
    save_works();
}

Test(state_transfer_failures, the_device_thread_cannot_start_and_the_relay_is_stopped)
{
    save_fails(FAIL_THREAD2, strerror(EAGAIN));
    cr_assert_eq(atomic_load(&threads_seen), 2, "the relay had started");
    save_works();
}
