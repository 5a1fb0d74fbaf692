/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The daemon: life cycle, workers, and where front-ends come from (listen, --fd, client mode). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "fdcheck.h"
#include "internal.h"

#define VUB_DEFAULT_MAX_QUEUE_SIZE 1024u
#define VUB_RETRY_SECONDS 0.1

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents);

/* Makes *@fd non-blocking; on failure closes it (it was taken) and returns -errno. */
static int set_nonblock(int *fd)
{
    int rc = vub__fd_nonblock(*fd);
    if (rc < 0)
        cvmm_close(fd);
    return rc;
}

/* ---- connection ---- */

static void conn_close(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (!c->conn)
        return;
    ev_io_stop(c->loop, &c->conn_w);
    vhu_backend_free(c->conn);
    c->conn = NULL;
    vub__ctl_disconnected(d);
    cvmm_logf(d->log, CVMM_LOG_INFO, "%s: front-end disconnected", d->name);
    c->served = true;
    if (c->stopping || c->serve_once) {
        ev_break(c->loop, EVBREAK_ALL);
        return;
    }
    if (c->listen_fd >= 0)
        ev_io_start(c->loop, &c->listen_w);
    else if (c->client)
        ev_timer_again(c->loop, &c->retry_w);
    else /* --fd with a connected socket: nothing more will come */
        ev_break(c->loop, EVBREAK_ALL);
}

/* Takes @owned_fd, a connected socket. */
static int conn_open(vub_daemon *d, int owned_fd)
{
    struct vub__ctl *c = d->ctl;
    int rc = set_nonblock(&owned_fd);
    if (rc < 0)
        return rc;
    vub__ctl_connected(d);
    vhu_backend_config bc = {
        .log = d->log,
        .name = d->name,
        .protocol_features = c->offered_proto,
        .num_queues = d->nqueues,
        .timeout_ms = d->peer_timeout_ms,
    };
    rc = vhu_backend_new(&bc, owned_fd, &c->conn);
    if (rc < 0)
        return rc;
    vub__ctl_inherit(d);
    c->conn_dead = false;
    ev_io_init(&c->conn_w, conn_cb, vhu_backend_fd(c->conn), EV_READ);
    c->conn_w.data = d;
    ev_io_start(c->loop, &c->conn_w);
    if (c->listen_fd >= 0)
        ev_io_stop(c->loop, &c->listen_w);
    cvmm_logf(d->log, CVMM_LOG_INFO, "%s: front-end connected", d->name);
    return 0;
}

/* After a message is handled: close the fds no handler kept and clear the header, so nothing of it is
 * left to be taken for a later message (of this connection or the next). */
static void msg_forget(vhu_msg *m)
{
    vhu_msg_close_fds(m);
    memset(&m->hdr, 0, sizeof(m->hdr));
}

static void conn_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop, (void)revents;
    vub_daemon *d = io->data;
    struct vub__ctl *c = d->ctl;
    vhu_msg *m = &c->msg;
    /* Handle what is there, but yield after a batch so stop requests and other watchers run.  Decisions
     * look at the message just received and at nothing older: a receive that failed on the stream (bad
     * header, EOF or an error inside a message) leaves no message at all (the endpoint is broken and @m is
     * cleared), so it only closes the connection; and @m is cleared after each message. */
    for (int n = 0; n < 64 && c->conn && !c->conn_dead; n++) {
        int rc = vhu_backend_recv(c->conn, m);
        if (rc == -EAGAIN)
            return;
        if (rc == 0)
            vub__ctl_dispatch(d, m);
        else if (vhu_backend_broken(c->conn) || !vub__ctl_rejected(d, m, rc))
            c->conn_dead = true;
        msg_forget(m);
    }
    if (c->conn && c->conn_dead)
        conn_close(d);
}

static void listen_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop, (void)revents;
    vub_daemon *d = io->data;
    int fd = accept4(d->ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
            cvmm_logf(d->log, CVMM_LOG_WARN, "%s: accept failed: %s", d->name, strerror(errno));
        return;
    }
    int rc = conn_open(d, fd);
    if (rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot serve the new connection: %s", d->name, strerror(-rc));
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (!path || !*path || strlen(path) >= sizeof(sa->sun_path))
        return -EINVAL;
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

static void retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    vub_daemon *d = t->data;
    struct vub__ctl *c = d->ctl;
    struct sockaddr_un sa;
    if (c->conn || unix_addr(c->path, &sa) < 0) {
        ev_timer_stop(loop, t);
        return;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        cvmm_close(&fd);
        return; /* the timer repeats */
    }
    ev_timer_stop(loop, t);
    int rc = conn_open(d, fd);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot serve %s: %s", d->name, c->path, strerror(-rc));
        ev_timer_again(loop, t);
    }
}

/* ---- stop and signals ---- */

static void stop_now(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    c->stopping = true;
    if (c->conn)
        conn_close(d); /* breaks the loop */
    else
        ev_break(c->loop, EVBREAK_ALL);
}

static void stop_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)loop, (void)revents;
    stop_now(a->data);
}

static void signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)loop, (void)revents;
    vub_daemon *d = s->data;
    cvmm_logf(d->log, CVMM_LOG_INFO, "%s: signal %d, shutting down", d->name, s->signum);
    stop_now(d);
}

/* ---- life cycle ---- */

static int check_config(const vub_daemon_config *cfg, unsigned *nworkers)
{
    if (!cfg || !cfg->ops || !cfg->info || (!cfg->ops->queue_kicked && !cfg->ops->request))
        return -EINVAL;
    const vub_device_info *info = cfg->info;
    if (info->num_queues == 0 || info->num_queues > VUB_MAX_QUEUES || info->max_queue_size > VQ_MAX_SIZE)
        return -EINVAL;
    unsigned n = cfg->nworkers;
    if (n > VUB_MAX_WORKERS)
        return -EINVAL;
    if (n == 0) {
        n = 1;
        if (info->queue_worker)
            for (unsigned i = 0; i < info->num_queues; i++)
                if (info->queue_worker[i] + 1u > n)
                    n = info->queue_worker[i] + 1u;
        if (n > VUB_MAX_WORKERS)
            return -EINVAL;
    }
    if (info->queue_worker)
        for (unsigned i = 0; i < info->num_queues; i++)
            if (info->queue_worker[i] >= n)
                return -EINVAL;
    *nworkers = n;
    return 0;
}

int vub_daemon_new(const vub_daemon_config *cfg, vub_daemon **out)
{
    unsigned nworkers = 0;
    if (!out)
        return -EINVAL;
    *out = NULL;
    int rc = check_config(cfg, &nworkers);
    if (rc < 0) {
        cvmm_logf(cfg ? cfg->log : NULL, CVMM_LOG_ERROR, "vub: invalid device or daemon configuration");
        return rc;
    }
    vub_daemon *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->ops = cfg->ops;
    d->info = cfg->info;
    d->ctx = cfg->ctx;
    d->log = cfg->log;
    d->name = cfg->info->name ? cfg->info->name : "vub";
    d->peer_timeout_ms = cfg->peer_timeout_ms ? cfg->peer_timeout_ms : VUB_PEER_TIMEOUT_MS_DEFAULT;
    d->busy_poll_us = cfg->poll                ? (int)VUB_BUSY_POLL_ALWAYS
                      : cfg->busy_poll_us == 0 ? VUB_BUSY_POLL_US_DEFAULT
                                               : cfg->busy_poll_us;
    d->nqueues = cfg->info->num_queues;
    d->max_queue_size = cfg->info->max_queue_size ? cfg->info->max_queue_size : VUB_DEFAULT_MAX_QUEUE_SIZE;
    d->nworkers = nworkers;
    rc = -ENOMEM;
    d->ctl = calloc(1, sizeof(*d->ctl));
    d->queues = calloc(d->nqueues, sizeof(*d->queues));
    d->workers = calloc(nworkers, sizeof(*d->workers));
    if (!d->ctl || !d->queues || !d->workers)
        goto fail;
    struct vub__ctl *c = d->ctl;
    c->listen_fd = -1;
    c->log_fd = -1;
    c->xfer_dev_fd = c->relay_src = c->relay_dst = c->xfer_cancel = -1;
    c->serve_once = cfg->serve_once;
    rc = vub__backend_init(d, &d->backend);
    if (rc < 0)
        goto fail;
    rc = vmem_guest_new(d->log, &d->guest);
    if (rc < 0)
        goto fail;
    for (unsigned i = 0; i < nworkers; i++) {
        rc = vub__worker_init(d, &d->workers[i], i);
        if (rc < 0)
            goto fail;
    }
    for (unsigned i = 0; i < d->nqueues; i++) {
        vub_queue *q = &d->queues[i];
        unsigned wi = cfg->info->queue_worker ? cfg->info->queue_worker[i] : i % nworkers;
        q->d = d;
        q->index = i;
        q->w = &d->workers[wi];
        q->kick_fd = q->call_fd = q->err_fd = -1;
        atomic_init(&q->kick_pending, false);
        vq_queue_config qc = {.max_size = d->max_queue_size, .log = d->log, .index = i};
        rc = vq_queue_new(&qc, &q->vq);
        if (rc < 0)
            goto fail;
        vub__queue_init_watchers(q);
        vub__busy_poll_init(q, d->busy_poll_us);
        q->w->nqueues++;
    }
    for (unsigned i = 0; i < nworkers; i++) {
        vub__worker *w = &d->workers[i];
        /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of queue pointers */
        w->queues = calloc(w->nqueues ? w->nqueues : 1, sizeof(*w->queues));
        if (!w->queues)
            goto fail;
        w->nqueues = 0;
    }
    for (unsigned i = 0; i < d->nqueues; i++) {
        vub_queue *q = &d->queues[i];
        q->w->queues[q->w->nqueues++] = q;
    }
    /* control loop */
    if (cfg->loop) {
        c->loop = cfg->loop;
    } else if (cfg->handle_signals) {
        c->loop = ev_default_loop(EVFLAG_AUTO);
    } else {
        c->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
        c->own_loop = true;
    }
    if (!c->loop)
        goto fail;
    ev_async_init(&c->stop_w, stop_cb);
    c->stop_w.data = d;
    ev_async_start(c->loop, &c->stop_w);
    ev_io_init(&c->listen_w, listen_cb, -1, EV_READ);
    c->listen_w.data = d;
    ev_init(&c->retry_w, retry_cb);
    c->retry_w.repeat = VUB_RETRY_SECONDS;
    c->retry_w.data = d;
    if (cfg->handle_signals) {
        c->handle_signals = true;
        ev_signal_init(&c->sigterm_w, signal_cb, SIGTERM);
        ev_signal_init(&c->sigint_w, signal_cb, SIGINT);
        c->sigterm_w.data = c->sigint_w.data = d;
        ev_signal_start(c->loop, &c->sigterm_w);
        ev_signal_start(c->loop, &c->sigint_w);
        ev_unref(c->loop);
        ev_unref(c->loop);
    }
    for (unsigned i = 0; i < nworkers; i++) {
        rc = vub__worker_start(&d->workers[i]);
        if (rc < 0)
            goto fail;
    }
    *out = d;
    return 0;
fail:
    vub_daemon_free(d);
    return rc;
}

void vub_daemon_free(vub_daemon *d)
{
    if (!d)
        return;
    struct vub__ctl *c = d->ctl;
    if (c && c->loop) {
        c->stopping = true;
        if (c->conn) {
            ev_io_stop(c->loop, &c->conn_w);
            vhu_backend_free(c->conn);
            c->conn = NULL;
            vub__ctl_disconnected(d);
        }
        ev_async_stop(c->loop, &c->stop_w);
        ev_timer_stop(c->loop, &c->retry_w);
        if (c->listen_fd >= 0)
            ev_io_stop(c->loop, &c->listen_w);
        if (c->handle_signals) {
            ev_ref(c->loop);
            ev_ref(c->loop);
            ev_signal_stop(c->loop, &c->sigterm_w);
            ev_signal_stop(c->loop, &c->sigint_w);
        }
        if (c->own_loop)
            ev_loop_destroy(c->loop);
    }
    if (c) {
        cvmm_close(&c->listen_fd);
        if (c->unlink_path)
            (void)unlink(c->path);
    }
    if (d->workers)
        for (unsigned i = 0; i < d->nworkers; i++)
            vub__worker_fini(&d->workers[i]);
    if (d->queues) {
        for (unsigned i = 0; i < d->nqueues; i++) {
            vub_queue *q = &d->queues[i];
            vq_queue_free(q->vq);
            cvmm_close(&q->kick_fd);
            cvmm_close(&q->call_fd);
            cvmm_close(&q->err_fd);
        }
    }
    vmem_guest_free(d->guest);
    vub__backend_fini(&d->backend);
    free(d->queues);
    free(d->workers);
    free(d->ctl);
    free(d);
}

static int busy(const vub_daemon *d)
{
    const struct vub__ctl *c = d->ctl;
    return c->conn || c->listen_fd >= 0 || c->client ? -EBUSY : 0;
}

static int listen_on(vub_daemon *d, int owned_fd)
{
    struct vub__ctl *c = d->ctl;
    int rc = set_nonblock(&owned_fd);
    if (rc < 0)
        return rc;
    c->listen_fd = owned_fd;
    ev_io_set(&c->listen_w, owned_fd, EV_READ);
    ev_io_start(c->loop, &c->listen_w);
    return 0;
}

int vub_daemon_listen(vub_daemon *d, const char *path)
{
    struct sockaddr_un sa;
    if (unix_addr(path, &sa) < 0) {
        cvmm_logf(d->log, CVMM_LOG_ERROR, "%s: bad socket path", d->name);
        return -EINVAL;
    }
    if (busy(d))
        return -EBUSY;
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        (void)unlink(path); /* a stale socket of a previous run */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
        int e = errno;
        cvmm_logf(d->log, CVMM_LOG_ERROR, "%s: cannot listen on %s: %s", d->name, path, strerror(e));
        cvmm_close(&fd);
        return -e;
    }
    memcpy(d->ctl->path, sa.sun_path, sizeof(d->ctl->path));
    d->ctl->unlink_path = true;
    return listen_on(d, fd);
}

int vub_daemon_serve_fd(vub_daemon *d, int owned_fd)
{
    int acc = 0;
    socklen_t len = sizeof(acc);
    if (owned_fd < 0)
        return -EBADF;
    if (busy(d)) {
        cvmm_close(&owned_fd);
        return -EBUSY;
    }
    if (getsockopt(owned_fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0) {
        cvmm_logf(d->log, CVMM_LOG_ERROR, "%s: fd %d is not a socket", d->name, owned_fd);
        cvmm_close(&owned_fd);
        return -EBADF;
    }
    if (acc)
        return listen_on(d, owned_fd);
    return conn_open(d, owned_fd);
}

int vub_daemon_connect(vub_daemon *d, const char *path)
{
    struct sockaddr_un sa;
    if (unix_addr(path, &sa) < 0)
        return -EINVAL;
    if (busy(d))
        return -EBUSY;
    memcpy(d->ctl->path, sa.sun_path, sizeof(d->ctl->path));
    d->ctl->client = true;
    retry_cb(d->ctl->loop, &d->ctl->retry_w, 0);
    if (!d->ctl->conn)
        ev_timer_again(d->ctl->loop, &d->ctl->retry_w);
    return 0;
}

int vub_daemon_run(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (!c->conn && c->listen_fd < 0 && !c->client)
        return -EPROTO;
    c->running = true;
    if (!c->stopping && !(c->serve_once && c->served))
        ev_run(c->loop, 0);
    c->running = false;
    return 0;
}

void vub_daemon_stop(vub_daemon *d) { ev_async_send(d->ctl->loop, &d->ctl->stop_w); }
vub_backend *vub_daemon_backend(vub_daemon *d) { return &d->backend; }
struct ev_loop *vub_daemon_loop(vub_daemon *d) { return d->ctl->loop; }
vub_queue *vub_daemon_queue(vub_daemon *d, unsigned index) { return index < d->nqueues ? &d->queues[index] : NULL; }
bool vub_daemon_connected(const vub_daemon *d) { return d->ctl->conn != NULL; }
uint64_t vub_daemon_features(const vub_daemon *d)
{
    return atomic_load_explicit(&((vub_daemon *)d)->features_acked, memory_order_acquire);
}
uint64_t vub_daemon_protocol_features(const vub_daemon *d)
{
    return atomic_load_explicit(&((vub_daemon *)d)->proto_acked, memory_order_acquire);
}
