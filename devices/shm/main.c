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
    const char *control;
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
    ev_io_init(&m->lio, listen_cb, m->lfd, EV_READ);
    m->lio.data = m;
    ev_io_start(vub_daemon_loop(m->d), &m->lio);
    return 0;
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
    env->info = &sm->dev.info;
    env->ctx = &sm->dev; /* the ops' context is the device */
    return 0;
}

static int shm_started(void *ctx, vub_daemon *d)
{
    struct shm_main *sm = ctx;
    sm->d = d;
    int rc = sm->control ? control_listen(sm) : 0;
    if (rc < 0)
        fprintf(stderr, "cvmm-shm: cannot listen on --control=%s: %s\n", sm->control, strerror(-rc));
    return rc;
}

static void shm_stopped(void *ctx, vub_daemon *d)
{
    struct shm_main *sm = ctx;
    for (unsigned i = 0; i < CTL_CLIENTS; i++)
        if (sm->cl[i].fd >= 0)
            client_close(&sm->cl[i]);
    if (sm->lfd >= 0) {
        ev_io_stop(vub_daemon_loop(d), &sm->lio);
        cvmm_close(&sm->lfd);
        (void)unlink(sm->control);
    }
}

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
};

int main(int argc, char **argv)
{
    shm_dev_init(&the_shm.dev, NULL);
    vub_program p = prog;
    p.ops = shm_dev_ops();
    return vub_program_main(&p, argc, argv);
}
