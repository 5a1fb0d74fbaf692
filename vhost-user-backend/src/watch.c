/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* watch.c - a device fd on a queue's worker loop (cvmm/vub/watch.h). */
#include <errno.h>
#include <ev.h>
#include <stdlib.h>

#include "cvmm/vub/queue.h"
#include "cvmm/vub/watch.h"

struct vub_watch {
    ev_io io; /* first: the libev callback gets &io */
    vub_queue *q;
    struct ev_loop *loop;
    vub_watch_fn *fn;
    void *opaque;
    unsigned events;
};

static int ev_events(unsigned events)
{
    return ((events & VUB_WATCH_READ) ? EV_READ : 0) | ((events & VUB_WATCH_WRITE) ? EV_WRITE : 0);
}

static void ready(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    vub_watch *w = (vub_watch *)io;
    unsigned ev = ((revents & EV_READ) ? VUB_WATCH_READ : 0) | ((revents & EV_WRITE) ? VUB_WATCH_WRITE : 0);
    w->fn(w->opaque, w->q, io->fd, ev);
}

int vub_watch_new(vub_queue *q, int fd, unsigned events, vub_watch_fn *fn, void *opaque, vub_watch **out)
{
    if (!q || fd < 0 || !fn || !out || (events & ~(VUB_WATCH_READ | VUB_WATCH_WRITE)))
        return -EINVAL;
    vub_watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->q = q;
    w->loop = vub_queue_loop(q);
    w->fn = fn;
    w->opaque = opaque;
    ev_io_init(&w->io, ready, fd, EV_READ);
    *out = w;
    return vub_watch_set(w, events);
}

int vub_watch_set(vub_watch *w, unsigned events)
{
    if (!w || (events & ~(VUB_WATCH_READ | VUB_WATCH_WRITE)))
        return -EINVAL;
    if (events == w->events)
        return 0;
    ev_io_stop(w->loop, &w->io);
    w->events = events;
    if (events) {
        ev_io_set(&w->io, w->io.fd, ev_events(events));
        ev_io_start(w->loop, &w->io);
    }
    return 0;
}

unsigned vub_watch_events(const vub_watch *w) { return w ? w->events : 0; }

void vub_watch_free(vub_watch *w)
{
    if (!w)
        return;
    ev_io_stop(w->loop, &w->io);
    free(w);
}
