/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-shm - a vhost-user back-end that exercises VIRTIO Shared Memory Regions (see README.md).
 *
 *   cvmm-shm --socket-path=PATH | --fd=FDNUM  --shm=SHMID:SIZE... [--control=PATH]
 *            [--client] [--log-level=L] [--serve-once] [--print-capabilities] [--help]
 *
 * --control=PATH: a SOCK_SEQPACKET socket; each packet is one request, answered by one packet
 * (shm_ctl_exec()).  Requests run on the daemon's control loop, one at a time. */
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "cvmm/vub.h"
#include "devmain.h"
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

static int opt_shm(void *o, const char *arg)
{
    struct shm_main *m = o;
    return shm_add_region(&m->dev, arg) < 0 ? -EINVAL : 0;
}

static int opt_control(void *o, const char *arg)
{
    if (!*arg)
        return -EINVAL;
    ((struct shm_main *)o)->control = arg;
    return 0;
}

static const vub_cmdline_option shm_opts[] = {
    {.name = "shm", .has_arg = true,
     .help = "SHMID:SIZE: declare shared memory region SHMID (0..255) of SIZE bytes (K/M/G, page multiple); repeat",
     .parse = opt_shm},
    {.name = "control", .has_arg = true,
     .help = "PATH: SOCK_SEQPACKET control socket for map/unmap/config requests (README.md)",
     .parse = opt_control},
};
#define NOPTS (sizeof(shm_opts) / sizeof(shm_opts[0]))

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

int main(int argc, char **argv)
{
    struct shm_main m;
    vub_cmdline cl;
    char err[256];
    int status = 1;

    signal(SIGPIPE, SIG_IGN);
    memset(&m, 0, sizeof(m));
    m.lfd = -1;
    for (unsigned i = 0; i < CTL_CLIENTS; i++) {
        m.cl[i].fd = -1;
        m.cl[i].m = &m;
    }
    struct cvmm_log log = {.fn = NULL, .level = CVMM_LOG_WARN};
    shm_dev_init(&m.dev, &log);
    if (vub_cmdline_parse(argc, argv, shm_opts, NOPTS, &m, &cl, err, sizeof(err)) < 0) {
        fprintf(stderr, "cvmm-shm: %s (try --help)\n", err);
        return 1;
    }
    if (cl.help) {
        (void)vub_cmdline_usage(1, "cvmm-shm", shm_opts, NOPTS);
        return 0;
    }
    /* "fs": the schema's type whose device uses VIRTIO Shared Memory Regions (virtio-fs's DAX window);
     * it has no generic type (README.md). */
    if (cl.print_capabilities)
        return vub_print_capabilities(1, "fs", NULL) < 0 ? 1 : 0;
    if (m.dev.regions.nregions == 0) {
        fprintf(stderr, "cvmm-shm: at least one --shm=SHMID:SIZE is required (try --help)\n");
        return 1;
    }
    log.level = cl.log_level;
    vub_daemon_config dc = {
        .ops = shm_dev_ops(),
        .info = &m.dev.info,
        .ctx = &m.dev,
        .nworkers = 1,
        .log = &log,
        .serve_once = cl.serve_once,
        .handle_signals = true,
    };
    int rc = dev_daemon_new("cvmm-shm", &dc, &m.d);
    if (rc < 0)
        goto out;
    if (m.control && (rc = control_listen(&m)) < 0) {
        fprintf(stderr, "cvmm-shm: cannot listen on --control=%s: %s\n", m.control, strerror(-rc));
        goto out;
    }
    rc = vub_cmdline_serve(&cl, m.d);
    if (rc < 0) {
        fprintf(stderr, "cvmm-shm: cannot serve %s: %s\n", cl.socket_path ? cl.socket_path : "--fd",
                strerror(-rc));
        goto out;
    }
    rc = dev_daemon_run("cvmm-shm", m.d);
    if (rc < 0)
        goto out;
    status = 0;
out:
    if (m.d) {
        for (unsigned i = 0; i < CTL_CLIENTS; i++)
            if (m.cl[i].fd >= 0)
                client_close(&m.cl[i]);
        if (m.lfd >= 0) {
            ev_io_stop(vub_daemon_loop(m.d), &m.lio);
            cvmm_close(&m.lfd);
            (void)unlink(m.control);
        }
    }
    vub_daemon_free(m.d);
    return status;
}
