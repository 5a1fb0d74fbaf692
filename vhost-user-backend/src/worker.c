/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Worker threads: one ev_loop_new() loop each, reached from other threads only through ev_async_send().
 *
 * Guest memory (QSBR, cvmm/vmem/guest.h): the worker's vmem_reader goes offline in the prepare watcher
 * (before the loop blocks) and online in the check watcher (after it wakes; highest priority, so it runs
 * before any other callback of the iteration).  The check watcher then compares the daemon's mem_gen with
 * the generation of the map the queues use.  The control thread makes mem_gen odd before
 * vmem_guest_publish() and even again after it returned, so:
 *   - an even, unchanged generation means no publish began since the worker read its map: the map is
 *     still the current one, and it cannot have been freed;
 *   - otherwise the worker re-reads the map and re-translates every started queue (vq_queue_set_map())
 *     before any callback touches a ring.  If it read during a publish (odd), it may have got the old map;
 *     that map stays valid until the worker's next quiescent point, and the next iteration re-reads.
 * The address of a map is never compared: a freed map's address can come back for the next map. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/inflight.h"
#include "internal.h"

void vub__worker_refresh(vub__worker *w)
{
    uint64_t g = atomic_load_explicit(&w->d->mem_gen, memory_order_seq_cst);
    if (g == w->seen_gen && !(g & 1))
        return;
    w->map = vmem_reader_map(w->reader);
    w->seen_gen = g;
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        if (q->started)
            (void)vq_queue_set_map(q->vq, w->map); /* on failure the queue cannot run; vq logged it */
    }
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)loop, (void)revents;
    vub__worker *w = p->data;
    vub__worker_log_kick(w); /* SET_LOG_FD: once per iteration that marked the log, while the map is ours */
    vmem_reader_offline(w->reader);
}

static void check_cb(struct ev_loop *loop, ev_check *c, int revents)
{
    (void)loop, (void)revents;
    vub__worker *w = c->data;
    vmem_reader_online(w->reader);
    /* Partner: the seq_cst store of mem_gen before vmem_guest_publish() in control.c.  Either the
     * publisher sees this reader online and waits for it, or this thread sees the odd generation. */
    atomic_thread_fence(memory_order_seq_cst);
    vub__worker_refresh(w);
}

void vub__queue_run(vub_queue *q)
{
    if (!q->started)
        return;
    (void)vub__dev_queue_kicked(q->d, q);
    /* A region file that shrank under us faulted during the kick (vm-memory's fault guard): break. */
    (void)vq_queue_check_memory(q->vq);
    if (vq_queue_broken(q->vq)) {
        /* The err eventfd is preferred; without one, in-band notifications send BACKEND_VRING_ERR on the
         * back-end channel (spec: SET_VRING_ERR "isn't necessary" then).  Once per breakage either way. */
        if (!q->err_signalled && q->err_fd >= 0)
            (void)vub__queue_signal_fd(q, q->err_fd, "err"); /* never blocks; logs a failure */
        else if (!q->err_signalled && q->inband)
            (void)vub__backend_vring_err(&q->d->backend, q->index); /* logs a failure */
        q->err_signalled = true;
        /* A broken ring stays broken until it is restarted: stop polling it. */
        if (q->polling || q->bp_looping)
            ev_idle_stop(q->w->loop, &q->poll_w);
        q->bp_looping = false;
    }
}

static void kick_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop, (void)revents;
    vub_queue *q = io->data;
    uint64_t v;
    /* Never blocks: the kick fd is a non-blocking eventfd (fdcheck.c).  EAGAIN is no error: another
     * watcher of the same eventfd took the count first (a front-end may send one eventfd for several
     * rings) or the wakeup was spurious.  The ring is looked at either way, cheaply: the kick may have
     * been meant for it. */
    ssize_t n = read(q->kick_fd, &v, sizeof(v));
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: kick fd read failed: %s; polling instead", q->d->name, q->index,
                  strerror(errno));
        ev_io_stop(q->w->loop, &q->kick_w);
        cvmm_close(&q->kick_fd);
        q->polling = true;
        q->bp_looping = false; /* the poll watcher polls for ever now */
        ev_idle_start(q->w->loop, &q->poll_w);
    }
    vub__queue_run(q);
}

static void poll_cb(struct ev_loop *loop, ev_idle *idle, int revents)
{
    (void)loop, (void)revents;
    vub_queue *q = idle->data;
    if (q->bp_looping)
        vub__busy_poll_tick(q); /* busypoll.c: a drained ring polled with kicks off */
    else
        vub__queue_run(q); /* a ring without kick fd */
}

static void async_cb(struct ev_loop *loop, ev_async *a, int revents)
{
    (void)revents;
    vub__worker *w = a->data;
    /* Before taking the work: what is sent after this is seen by the next busy-poll (busypoll.c). */
    atomic_store_explicit(&w->attention, false, memory_order_relaxed);
    pthread_mutex_lock(&w->mu);
    struct vub__call *c = w->calls;
    w->calls = w->calls_tail = NULL;
    bool quit = w->quit;
    pthread_mutex_unlock(&w->mu);
    while (c) {
        struct vub__call *next = c->next; /* read before done: the caller's frame goes away after it */
        c->fn(w, c->arg);
        pthread_mutex_lock(&w->mu);
        c->done = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        c = next;
    }
    /* Calls may have queued work (a started ring's first look); more may arrive meanwhile: the async
     * watcher fires again for those. */
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        if (atomic_exchange_explicit(&q->kick_pending, false, memory_order_acq_rel))
            vub__queue_run(q);
    }
    if (quit)
        ev_break(loop, EVBREAK_ALL);
}

static void *worker_main(void *arg)
{
    vub__worker *w = arg;
    if (vmem_reader_register(w->d->guest, &w->reader) < 0) {
        cvmm_logf(w->d->log, CVMM_LOG_ERROR, "%s: worker%u: cannot register a memory reader", w->d->name, w->index);
        /* Keep serving calls so the control thread never waits forever; no queue can start (no map). */
    }
    w->seen_gen = 1; /* odd: read the map at the first check */
    ev_run(w->loop, 0);
    /* Drop every pointer into guest memory before the reader goes. */
    for (unsigned i = 0; i < w->nqueues; i++)
        if (w->queues[i]->started)
            vub__queue_stop(w->queues[i]);
    vmem_reader_unregister(w->reader);
    w->reader = NULL;
    return NULL;
}

int vub__worker_init(vub_daemon *d, vub__worker *w, unsigned index)
{
    memset(w, 0, sizeof(*w));
    w->d = d;
    w->index = index;
    w->log_call_fd = -1;
    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!w->loop)
        return -ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    ev_async_init(&w->async, async_cb);
    w->async.data = w;
    ev_async_start(w->loop, &w->async);
    ev_prepare_init(&w->prepare, prepare_cb);
    w->prepare.data = w;
    ev_set_priority(&w->prepare, EV_MINPRI);
    ev_prepare_start(w->loop, &w->prepare);
    ev_check_init(&w->check, check_cb);
    w->check.data = w;
    ev_set_priority(&w->check, EV_MAXPRI);
    ev_check_start(w->loop, &w->check);
    /* The loop's own watchers must not keep ev_run() alive on their own: only quit ends it. */
    return 0;
}

int vub__worker_start(vub__worker *w)
{
    int rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc != 0) {
        cvmm_logf(w->d->log, CVMM_LOG_ERROR, "%s: worker%u: pthread_create failed: %s", w->d->name, w->index,
                  strerror(rc));
        return -EAGAIN;
    }
    w->thread_started = true;
    return 0;
}

void vub__worker_fini(vub__worker *w)
{
    if (!w->loop)
        return;
    if (w->thread_started) {
        pthread_mutex_lock(&w->mu);
        w->quit = true;
        pthread_mutex_unlock(&w->mu);
        ev_async_send(w->loop, &w->async);
        pthread_join(w->thread, NULL);
        w->thread_started = false;
    }
    ev_loop_destroy(w->loop);
    w->loop = NULL;
    cvmm_close(&w->log_call_fd);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->queues);
    w->queues = NULL;
}

void vub__worker_call(vub__worker *w, void (*fn)(vub__worker *w, void *arg), void *arg)
{
    struct vub__call c = {.fn = fn, .arg = arg};
    if (!w->thread_started) { /* not running (start-up failure paths): the caller owns everything */
        fn(w, arg);
        return;
    }
    pthread_mutex_lock(&w->mu);
    /* c lives on this stack until done: the worker unlinks every call (async_cb) before it runs them. */
    if (w->calls_tail)
        w->calls_tail->next = &c;
    else
        /* cppcheck-suppress autoVariables ; unlinked before done, see above */
        w->calls = &c;
    /* cppcheck-suppress autoVariables ; unlinked before done, see above */
    w->calls_tail = &c;
    pthread_mutex_unlock(&w->mu);
    atomic_store_explicit(&w->attention, true, memory_order_relaxed);
    ev_async_send(w->loop, &w->async);
    pthread_mutex_lock(&w->mu);
    while (!c.done)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void vub__worker_wake(vub__worker *w)
{
    if (w->loop) {
        atomic_store_explicit(&w->attention, true, memory_order_relaxed);
        ev_async_send(w->loop, &w->async);
    }
}

/* ---- queue start/stop on the worker ---- */

void vub__queue_init_watchers(vub_queue *q)
{
    ev_io_init(&q->kick_w, kick_cb, -1, EV_READ);
    q->kick_w.data = q;
    ev_idle_init(&q->poll_w, poll_cb);
    q->poll_w.data = q;
}

void vub__queue_set_kick(vub_queue *q, int owned_fd)
{
    struct ev_loop *loop = q->w->loop;
    if (ev_is_active(&q->kick_w))
        ev_io_stop(loop, &q->kick_w);
    if (ev_is_active(&q->poll_w))
        ev_idle_stop(loop, &q->poll_w);
    if (owned_fd != q->kick_fd) {
        cvmm_close(&q->kick_fd);
        q->kick_fd = owned_fd;
    }
    q->polling = owned_fd < 0;
    if (q->polling)
        q->bp_looping = false; /* the poll watcher polls for ever now */
    if (!q->started)
        return;
    if (q->kick_fd >= 0) {
        ev_io_set(&q->kick_w, q->kick_fd, EV_READ);
        ev_io_start(loop, &q->kick_w);
    } else if (q->inband) {
        q->polling = false; /* kicks come as VRING_KICK messages */
    } else if (!vq_queue_broken(q->vq)) {
        ev_idle_start(loop, &q->poll_w);
    }
    /* A busy-poll in progress goes on: the ring's kicks are off until it ends (busypoll.c). */
    if (q->bp_looping && !q->polling && !ev_is_active(&q->poll_w))
        ev_idle_start(loop, &q->poll_w);
}

int vub__queue_start(vub_queue *q)
{
    vub__worker *w = q->w;
    vub__worker_refresh(w);
    int rc = vq_queue_set_map(q->vq, w->map);
    /* Inflight tracking: the region as it is now; starting validates it and resubmits what it holds. */
    bool track = q->d->info->track_inflight && q->inflight && vub__inflight_fits(q);
    if (rc == 0)
        rc = vq_inflight_attach(q->vq, track ? q->inflight : NULL, track ? q->inflight_size : 0);
    if (rc == 0)
        rc = vq_queue_set_ready(q->vq, true);
    if (rc < 0) {
        cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: cannot start the ring: %s", q->d->name, q->index, strerror(-rc));
        (void)vq_queue_set_map(q->vq, NULL);
        return rc;
    }
    if (q->inflight && !vub__inflight_fits(q))
        cvmm_logf(q->d->log, CVMM_LOG_WARN,
                  "%s: vq%u: the inflight region (%zu bytes) is too small for a %s ring "
                  "of %u: not given to the device",
                  q->d->name, q->index, q->inflight_size,
                  vq_queue_layout(q->vq) == VQ_LAYOUT_PACKED ? "packed" : "split", vq_queue_size(q->vq));
    q->started = true;
    q->err_signalled = false;
    q->kick_failed_logged = false;
    q->long_logged = false;
    rc = vub__dev_queue_started(q->d, q);
    if (rc < 0) {
        q->started = false;
        (void)vq_queue_set_ready(q->vq, false);
        (void)vq_queue_set_map(q->vq, NULL);
        return rc;
    }
    vub__queue_set_kick(q, q->kick_fd); /* arm the watcher for the fd we have (same fd: no close) */
    /* Back-ends SHOULD NOT rely on a kick after SET_VRING_KICK: look at the ring once, right after the
     * control thread got its answer (async_cb runs pending kicks after the calls), so that a device that
     * signals in-band never waits for a front-end that waits for us. */
    atomic_store_explicit(&q->kick_pending, true, memory_order_relaxed);
    return 0;
}

void vub__queue_stop(vub_queue *q)
{
    if (!q->started)
        return;
    (void)vub__dev_queue_stopped(q->d, q);
    struct ev_loop *loop = q->w->loop;
    if (ev_is_active(&q->kick_w))
        ev_io_stop(loop, &q->kick_w);
    if (ev_is_active(&q->poll_w))
        ev_idle_stop(loop, &q->poll_w);
    q->bp_looping = false;
    (void)vq_queue_set_ready(q->vq, false);
    (void)vq_queue_set_map(q->vq, NULL);
    q->started = false;
}
