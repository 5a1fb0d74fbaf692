/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-shm - a vhost-user back-end that exercises VIRTIO Shared Memory Regions (see README.md).
 *
 *   cvmm-shm --socket-path=PATH | --fd=FDNUM  --shm=SHMID:SIZE... [--control=PATH] [common options]
 *
 * --control=PATH: a SOCK_SEQPACKET socket; each packet is one request, answered by one packet
 * (shm_ctl_exec()).  Requests run on the daemon's control loop, one at a time. */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "cvmm/vub.h"
#include "shm.h"

#define CTL_CLIENTS 4

struct ctl_client {
    ev_io io;
    int fd;
    struct shm_main *m;
};

struct shm_main {
    shm_dev dev;
    vub_daemon *d;
    const char *control, *map_dir;
    int lfd;
    ev_io lio;
    struct ctl_client cl[CTL_CLIENTS];
};

static int opt_shm(void *dest, const char *arg) { return shm_add_region(dest, arg) < 0 ? -EINVAL : 0; }

static struct shm_main the_shm = {.lfd = -1};

static const vub_program_option shm_opts[] = {
    {.name = "shm",
     .type = VUB_OPT_CUSTOM,
     .value_name = "SHMID:SIZE",
     .dest = &the_shm.dev,
     .parse = opt_shm,
     .help =
         "declare shared memory region SHMID (0..255) of SIZE bytes (K/M/G, page multiple); at least one, repeatable",
     .default_text = ""},
    {.name = "control",
     .type = VUB_OPT_STRING,
     .value_name = "PATH",
     .dest = &the_shm.control,
     .help = "SOCK_SEQPACKET control socket for map/unmap/config requests (README.md)"},
    {.name = "map-dir",
     .type = VUB_OPT_STRING,
     .value_name = "DIR",
     .dest = &the_shm.map_dir,
     .help = "the sandbox lets map requests open files beneath DIR only",
     .default_text = "none"},
};

static void client_close(struct ctl_client *c)
{
    ev_io_stop(vub_daemon_loop(c->m->d), &c->io);
    cvmm_close(&c->fd);
}

static void client_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop, (void)revents;
    struct ctl_client *c = io->data;
    char req[4097], reply[4096];
    ssize_t n = recv(c->fd, req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        client_close(c);
        return;
    }
    if ((size_t)n > sizeof(req) - 1)
        snprintf(reply, sizeof(reply), "error %d %s: request too long", EMSGSIZE, strerror(EMSGSIZE));
    else
        (void)shm_ctl_exec(&c->m->dev, vub_daemon_backend(c->m->d), req, (size_t)n, reply, sizeof(reply));
    if (send(c->fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        client_close(c);
}

static void listen_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)revents;
    struct shm_main *m = io->data;
    int fd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (unsigned i = 0; i < CTL_CLIENTS; i++) {
        struct ctl_client *c = &m->cl[i];
        if (c->fd < 0) {
            c->fd = fd;
            ev_io_init(&c->io, client_cb, fd, EV_READ);
            c->io.data = c;
            ev_io_start(loop, &c->io);
            return;
        }
    }
    const char busy[] = "error 16 too many control connections";
    (void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    cvmm_close(&fd);
}

/* The control socket is made in setup(), before the sandbox closes undeclared fds and limits the paths. */
static int control_listen(struct shm_main *m)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(m->control) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, m->control, strlen(m->control) + 1);
    m->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (m->lfd < 0)
        return -errno;
    (void)unlink(m->control);
    if (bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->lfd, 4) < 0) {
        int rc = -errno;
        cvmm_close(&m->lfd);
        return rc;
    }
    return 0;
}

/* The control socket goes away with the program (also after a failed start, which skips stopped()). */
static void control_close(struct shm_main *sm)
{
    if (sm->lfd >= 0) {
        cvmm_close(&sm->lfd);
        (void)unlink(sm->control);
    }
}

/* The sandbox (cvmm/vub/sandbox.h; derived with scripts/sandbox-trace.sh, docs/sandbox.md): the control
 * socket stays open, its directory keeps the right to remove it at exit, and a map request may open files
 * beneath --map-dir (read and write: "rw" maps), nothing else.  Control clients are accepted with accept4
 * and answered with recvfrom/sendto; SHMEM_MAP sends the opened file's fd on the back-end channel. */
static int shm_sandbox(struct shm_main *m, const vub_program_env *env)
{
    int rc = 0;
    const char *what = "--control";
    if (m->lfd >= 0) {
        char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
        const char *slash = strrchr(m->control, '/');
        if (!slash)
            snprintf(dir, sizeof(dir), ".");
        else
            snprintf(dir, sizeof(dir), "%.*s", slash == m->control ? 1 : (int)(slash - m->control), m->control);
        rc = vub_sandbox_keep_fd(env->sandbox, m->lfd);
        if (rc == 0)
            rc = vub_sandbox_allow_path(env->sandbox, dir, VUB_SANDBOX_CREATE);
    }
    if (rc == 0 && m->map_dir) {
        what = "--map-dir";
        rc = vub_sandbox_allow_path(env->sandbox, m->map_dir, VUB_SANDBOX_READ | VUB_SANDBOX_WRITE);
    }
    if (rc == 0) {
        what = "the system calls";
        rc = vub_sandbox_allow_syscalls(env->sandbox, (const char *const[]){"openat", "recvfrom", "sendto", NULL});
    }
    if (rc < 0)
        fprintf(stderr, "cvmm-shm: sandbox: cannot declare %s: %s\n", what, strerror(-rc));
    return rc;
}

static int shm_setup(void *ctx, vub_program_env *env)
{
    struct shm_main *sm = ctx;
    if (sm->dev.regions.nregions == 0) {
        fprintf(stderr, "cvmm-shm: at least one --shm=SHMID:SIZE is required (see --help)\n");
        return -EINVAL;
    }
    sm->dev.log = env->log;
    for (unsigned i = 0; i < CTL_CLIENTS; i++) {
        sm->cl[i].fd = -1;
        sm->cl[i].m = sm;
    }
    int rc = sm->control ? control_listen(sm) : 0;
    if (rc < 0) {
        fprintf(stderr, "cvmm-shm: cannot listen on --control=%s: %s\n", sm->control, strerror(-rc));
        return rc;
    }
    if ((rc = shm_sandbox(sm, env)) < 0) {
        control_close(sm);
        return rc;
    }
    env->info = &sm->dev.info;
    env->ctx = &sm->dev; /* the ops' context is the device */
    return 0;
}

static int shm_started(void *ctx, vub_daemon *d)
{
    struct shm_main *sm = ctx;
    sm->d = d;
    if (sm->lfd >= 0) {
        ev_io_init(&sm->lio, listen_cb, sm->lfd, EV_READ);
        sm->lio.data = sm;
        ev_io_start(vub_daemon_loop(d), &sm->lio);
    }
    return 0;
}

static void shm_stopped(void *ctx, vub_daemon *d)
{
    struct shm_main *sm = ctx;
    for (unsigned i = 0; i < CTL_CLIENTS; i++)
        if (sm->cl[i].fd >= 0)
            client_close(&sm->cl[i]);
    if (sm->lfd >= 0)
        ev_io_stop(vub_daemon_loop(d), &sm->lio);
}

static void shm_teardown(void *ctx) { control_close(ctx); }

static const vub_program prog = {
    .name = "cvmm-shm",
    .summary = "VIRTIO Shared Memory Regions declared with --shm, mapped on --control requests",
    .type = "fs", /* the schema's type that uses shared memory regions (virtio-fs's DAX window), README.md */
    .options = shm_opts,
    .noptions = sizeof(shm_opts) / sizeof(shm_opts[0]),
    .ops = NULL, /* set in main(): shm_dev_ops() is a function */
    .ctx = &the_shm,
    .workers = 1,
    .setup = shm_setup,
    .started = shm_started,
    .stopped = shm_stopped,
    .teardown = shm_teardown,
};

int main(int argc, char **argv)
{
    shm_dev_init(&the_shm.dev, NULL);
    vub_program p = prog;
    p.ops = shm_dev_ops();
    return vub_program_main(&p, argc, argv);
}
