/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The daemon in a process that is out of file descriptors (RLIMIT_NOFILE reached): listening fails with
 * EMFILE, a client that cannot create its socket retries, a connection that cannot be accepted waits in the
 * backlog (logged) until an fd is free, and a SET_LOG_FD whose eventfd cannot be copied for the workers is
 * refused.  The soft limit is lowered to the lowest free fd number (plus the spare fds a test allows) and
 * restored before anything is asserted; nothing else in the process creates fds meanwhile. */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vub_test.h"

static void init_none(void) { vt_setup(&(struct vt_opts){.no_frontend = true}); }
TestSuite(fd_exhaustion, .init = init_none, .fini = vt_fini, .timeout = 120);

static struct rlimit saved_limit;

/* Let only @spare more fds be created.  Return: 0, or -errno (nothing changed). */
static int fds_exhausted(int spare)
{
    int probe = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free fd number */
    if (probe < 0)
        return -errno;
    close(probe);
    if (getrlimit(RLIMIT_NOFILE, &saved_limit) < 0)
        return -errno;
    struct rlimit rl = {.rlim_cur = (rlim_t)probe + (rlim_t)spare, .rlim_max = saved_limit.rlim_max};
    return setrlimit(RLIMIT_NOFILE, &rl) < 0 ? -errno : 0;
}

static void fds_restored(void) { cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved_limit), 0); }

/* A front-end on @owned_fd reads the features: the daemon serves it. */
static void served(int owned_fd)
{
    vhu_frontend *fe = NULL;
    uint64_t f = 0;
    cr_assert_eq(vhu_frontend_new(&(vhu_frontend_config){.log = &vt.log, .timeout_ms = VT_WAIT_MS}, owned_fd, &fe), 0);
    cr_assert_eq(vhu_frontend_get_features(fe, &f), 0);
    cr_assert(f & (1ull << VHU_F_PROTOCOL_FEATURES), "features 0x%llx", (unsigned long long)f);
    vhu_frontend_free(fe);
}

Test(fd_exhaustion, listening_without_a_free_fd_fails_with_emfile)
{
    vub_daemon *d = vt_new_daemon(NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/full", vt.dir);
    cr_assert_eq(fds_exhausted(0), 0);
    int rc = vub_daemon_listen(d, path);
    fds_restored();
    cr_assert_eq(rc, -EMFILE);
    struct stat st;
    cr_assert_eq(lstat(path, &st), -1, "no socket file left behind");
    cr_assert_eq(vub_daemon_listen(d, path), 0, "with an fd free it listens");
    vub_daemon_free(d);
    cr_assert_eq(lstat(path, &st), -1);
}

Test(fd_exhaustion, a_client_without_a_free_fd_retries_until_it_connects)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/fe", vt.dir);
    struct sockaddr_un sa = vt_sun_of(path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 1), 0);
    vub_daemon *d = vt_new_daemon(NULL);
    cr_assert_eq(fds_exhausted(0), 0);
    int rc = vub_daemon_connect(d, path); /* the first try cannot create its socket */
    fds_restored();
    cr_assert_eq(rc, 0, "the timer tries again");
    cr_assert_not(vub_daemon_connected(d));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, vt_run, d), 0);
    cr_assert(cvmm_test_wait_readable(lfd, VT_WAIT_MS), "the daemon connected on a later try");
    int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(cfd, 0);
    served(cfd);
    vub_daemon_stop(d);
    pthread_join(th, NULL);
    vub_daemon_free(d);
    close(lfd);
    unlink(path);
}

Test(fd_exhaustion, a_connection_that_cannot_be_accepted_waits_until_an_fd_is_free)
{
    struct sockaddr_un sa = vt_sun_of(vt.path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fds_exhausted(0), 0);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)); /* into the backlog: no fd on our side */
    bool logged = false;
    for (int i = 0; rc == 0 && i < VT_WAIT_MS && !(logged = vt_logged("tdev: accept failed: Too many open files")); i++)
        vt_sleep_ms(1);
    fds_restored();
    cr_assert_eq(rc, 0);
    cr_assert(logged, "the failed accept is logged");
    served(fd); /* accepted now */
}

static void init_two_workers(void) { vt_setup(&(struct vt_opts){.no_frontend = true, .nworkers = 2}); }
TestSuite(fd_exhaustion_workers, .init = init_two_workers, .fini = vt_fini, .timeout = 120);

/* Two workers: the first copy fails, and the second worker gets none either. */
Test(fd_exhaustion_workers, set_log_fd_whose_eventfd_cannot_be_copied_is_refused)
{
    vt_connect();
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_geq(efd, 0);
    cr_assert_eq(fds_exhausted(1), 0); /* one fd: the daemon receives the eventfd, its copy fails */
    int rc = vhu_frontend_set_log_fd(vt.fe, efd);
    fds_restored();
    cr_assert_eq(rc, -EREMOTEIO);
    cr_assert(vt_logged("tdev: SET_LOG_FD: cannot duplicate the eventfd: Too many open files"));
    int fds = cvmm_test_count_fds();
    cr_assert_eq(vhu_frontend_set_log_fd(vt.fe, efd), 0, "with fds free it is accepted");
    cr_assert_eq(cvmm_test_count_fds(), fds + 2, "one copy per worker; the daemon's own replaces the refused one");
    close(efd);
    uint64_t n = 0;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0, "the connection goes on");
    cr_assert_eq(n, VT_QUEUES);
}
