/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Setting a daemon up to serve: the socket path it listens on (a stale socket is replaced, any other file
 * is left alone), serving one thing at a time, the worker map limits, freeing a daemon that still holds
 * a connection it never ran, and a daemon on the caller's own control loop. */
#include <ev.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "vub_test.h"

static void init_none(void) { vt_setup(&(struct vt_opts){.no_frontend = true}); }
TestSuite(daemon_setup, .init = init_none, .fini = vt_fini, .timeout = 120);

static void path_in_dir(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", vt.dir, name); }

static int connect_to(const char *path)
{
    struct sockaddr_un sa = vt_sun_of(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    int e = errno;
    close(fd);
    return rc < 0 ? -e : 0;
}

Test(daemon_setup, listening_replaces_a_stale_socket_file)
{
    char path[128];
    path_in_dir(path, sizeof(path), "stale");
    struct sockaddr_un sa = vt_sun_of(path);
    int old = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_eq(bind(old, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(old); /* a previous run died: its socket file is left behind */
    cr_assert_eq(connect_to(path), -ECONNREFUSED);
    vub_daemon *d = vt_new_daemon(NULL);
    cr_assert_eq(vub_daemon_listen(d, path), 0);
    cr_assert_eq(connect_to(path), 0, "the new socket listens");
    vub_daemon_free(d);
    struct stat st;
    cr_assert_eq(lstat(path, &st), -1, "the daemon removes its socket file");
}

Test(daemon_setup, listening_never_removes_a_file_that_is_not_a_socket)
{
    char path[128];
    path_in_dir(path, sizeof(path), "precious");
    int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    cr_assert_geq(f, 0);
    cr_assert_eq(write(f, "data", 4), 4);
    close(f);
    vub_daemon *d = vt_new_daemon(NULL);
    cr_assert_eq(vub_daemon_listen(d, path), -EADDRINUSE);
    cr_assert(vt_logged("d2: cannot listen on"));
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_size, 4, "the file is untouched");
    cr_assert_eq(vub_daemon_run(d), -EPROTO, "nothing to serve");
    vub_daemon_free(d);
    cr_assert_eq(lstat(path, &st), 0, "and still there after the daemon is gone");
    unlink(path);
}

Test(daemon_setup, a_daemon_serves_one_thing_at_a_time)
{
    char path[128], other[128];
    path_in_dir(path, sizeof(path), "one");
    path_in_dir(other, sizeof(other), "two");
    vub_daemon *d = vt_new_daemon(NULL);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = 0;
    cr_assert_eq(vub_daemon_connect(d, longp), -EINVAL, "client mode: path too long");
    cr_assert_eq(vub_daemon_connect(d, ""), -EINVAL);
    cr_assert_eq(vub_daemon_listen(d, path), 0);
    cr_assert_eq(vub_daemon_listen(d, other), -EBUSY);
    cr_assert_eq(vub_daemon_connect(d, other), -EBUSY);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_eq(vub_daemon_serve_fd(d, sp[0]), -EBUSY, "the fd is closed too");
    char b;
    cr_assert_eq(read(sp[1], &b, 1), 0, "EOF: the daemon closed the fd it refused");
    close(sp[1]);
    cr_assert_eq(lstat(other, &(struct stat){0}), -1, "nothing was created at the second path");
    vub_daemon_free(d);
}

Test(daemon_setup, freeing_a_daemon_with_a_connection_it_never_ran_closes_it)
{
    vub_daemon *d = vt_new_daemon(NULL);
    int sp[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    cr_assert_not(vub_daemon_connected(d));
    cr_assert_eq(vub_daemon_serve_fd(d, sp[0]), 0);
    cr_assert(vub_daemon_connected(d));
    unsigned resets = atomic_load(&vt.dev.resets);
    vub_daemon_free(d);
    cr_assert_eq(atomic_load(&vt.dev.resets), resets + 1, "the device is reset first");
    char b;
    cr_assert_eq(read(sp[1], &b, 1), 0, "the front-end sees the connection end");
    close(sp[1]);
}

Test(daemon_setup, a_worker_map_beyond_the_worker_limit_is_refused)
{
    vub_daemon *d = (vub_daemon *)&d;
    uint16_t map[2] = {0, VUB_MAX_WORKERS}; /* nworkers 0: derived from the map, 65 */
    vub_device_info info = {.name = "d3", .num_queues = 2, .queue_worker = map};
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &info, .ctx = &vt.dev, .log = &vt.log};
    cr_assert_eq(vub_daemon_new(&cfg, &d), -EINVAL);
    map[1] = VUB_MAX_WORKERS - 1;
    cr_assert_eq(vub_daemon_new(&cfg, NULL), -EINVAL, "no place for the daemon");
    cr_assert_eq(vub_daemon_new(&cfg, &d), 0, "64 workers are allowed");
    cr_assert_eq(vub_queue_worker(vub_daemon_queue(d, 1)), VUB_MAX_WORKERS - 1);
    vub_daemon_free(d);
}

/* vub_daemon_config.loop: the daemon runs on the caller's loop and leaves it to the caller, with none of
 * its watchers left on it. */
Test(daemon_setup, a_daemon_on_the_callers_loop_leaves_it_clean)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    cr_assert_not_null(loop);
    vub_daemon *d = vt_new_daemon(loop);
    cr_assert_eq(vub_daemon_loop(d), loop);
    char path[128];
    path_in_dir(path, sizeof(path), "own-loop");
    cr_assert_eq(vub_daemon_listen(d, path), 0);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, vt_run, d), 0);
    vhu_frontend *fe = NULL;
    uint64_t f = 0;
    cr_assert_eq(vhu_frontend_connect(&(vhu_frontend_config){.log = &vt.log, .timeout_ms = VT_WAIT_MS}, path, &fe), 0);
    cr_assert_eq(vhu_frontend_get_features(fe, &f), 0, "served from the caller's loop");
    cr_assert(f & (1ull << VHU_F_PROTOCOL_FEATURES));
    vub_daemon_stop(d);
    pthread_join(th, NULL);
    vhu_frontend_free(fe);
    vub_daemon_free(d);
    cr_assert_eq(ev_run(loop, EVRUN_NOWAIT), 0, "no watcher of the daemon is left on the loop");
    ev_loop_destroy(loop);
}
