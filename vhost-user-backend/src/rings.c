/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Ring messages and ring states ("Ring states" of the spec).  A ring's vq_queue belongs to its worker:
 * every change runs there through vub__worker_call() while the control thread waits. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"
#include "internal.h"

/* ---- rings ---- */

struct ring_call {
    vub_queue *q;
    uint32_t num;
    int fd;
    int rc;
    uint64_t desc, avail, used, log;
    bool log_on;
};

static void w_set_num(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    rc->rc = vq_queue_set_size(rc->q->vq, rc->num);
}

int vub__h_set_vring_num(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.state.index];
    struct ring_call rc = {.q = q, .num = m->payload.state.num};
    vub__worker_call(q->w, w_set_num, &rc);
    if (rc.rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: SET_VRING_NUM %u refused: %s", d->name, q->index, rc.num,
                  strerror(-rc.rc));
    else
        q->num = rc.num;
    return rc.rc;
}

static void w_set_addrs(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    rc->rc = vq_queue_set_addrs(rc->q->vq, rc->desc, rc->avail, rc->used);
    if (rc->rc == 0 && rc->log_on)
        vq_queue_set_log_addr(rc->q->vq, rc->log);
}

/* Translate the ring addresses (front-end virtual unless GPA_ADDRESSES) and give them to the ring.
 * Return: 0; -EAGAIN not translatable yet (no memory table: retried at SET_VRING_KICK); else -errno. */
static int apply_addrs(vub_daemon *d, vub_queue *q)
{
    struct ring_call rc = {.q = q, .log = q->log_addr, .log_on = (q->addr_flags & VHU_VRING_F_LOG) != 0};
    if (q->addr_gpa) {
        rc.desc = q->desc_addr;
        rc.avail = q->avail_addr;
        rc.used = q->used_addr;
    } else {
        const vmem_map *map = vmem_guest_map(d->guest);
        if (vmem_map_count(map) == 0)
            return -EAGAIN;
        uint32_t n = q->num ? q->num : 1;
        bool packed = (d->ctl->features & (1ull << VUB_F_RING_PACKED)) != 0;
        uint64_t dlen = 16ull * n, alen = packed ? 4 : vq_split_avail_bytes(n),
                 ulen = packed ? 4 : vq_split_used_bytes(n);
        int e = vmem_map_uva_to_gpa(map, q->desc_addr, dlen, &rc.desc);
        if (e == 0)
            e = vmem_map_uva_to_gpa(map, q->avail_addr, alen, &rc.avail);
        if (e == 0)
            e = vmem_map_uva_to_gpa(map, q->used_addr, ulen, &rc.used);
        if (e < 0) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: ring addresses are not in guest memory", d->name, q->index);
            return e;
        }
    }
    vub__worker_call(q->w, w_set_addrs, &rc);
    if (rc.rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: SET_VRING_ADDR refused: %s", d->name, q->index, strerror(-rc.rc));
        return rc.rc;
    }
    q->addr_applied = true;
    return 0;
}

int vub__h_set_vring_addr(vub_daemon *d, vhu_msg *m)
{
    const vhu_vring_addr *a = &m->payload.addr;
    vub_queue *q = &d->queues[a->index];
    q->addr_set = true;
    q->addr_applied = false;
    q->addr_gpa = (d->ctl->proto & PBIT(GPA_ADDRESSES)) != 0;
    q->addr_flags = a->flags;
    q->desc_addr = a->desc;
    q->avail_addr = a->avail;
    q->used_addr = a->used;
    q->log_addr = a->log;
    int rc = apply_addrs(d, q);
    return rc == -EAGAIN ? 0 : rc;
}

static void w_set_base(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    rc->rc = vq_queue_set_vring_base(rc->q->vq, rc->num);
}

int vub__h_set_vring_base(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.state.index];
    struct ring_call rc = {.q = q, .num = m->payload.state.num};
    vub__worker_call(q->w, w_set_base, &rc);
    if (rc.rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: SET_VRING_BASE 0x%x refused: %s", d->name, q->index, rc.num,
                  strerror(-rc.rc));
    return rc.rc;
}

static void w_stop(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    vub__queue_stop(rc->q);
    vub__queue_set_kick(rc->q, -1); /* a restart comes with a new SET_VRING_KICK */
    rc->num = vq_queue_vring_base(rc->q->vq);
}

int vub__h_get_vring_base(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.state.index];
    struct ring_call rc = {.q = q};
    vub__worker_call(q->w, w_stop, &rc);
    if (m->payload.state.num) /* reserved; DPDK 22.11 virtio-user sets it (VUB_QUIRK_DPDK_GET_VRING_BASE_NUM) */
        cvmm_logf(d->log, CVMM_LOG_DEBUG, "%s: vq%u: GET_VRING_BASE reserved num 0x%x ignored", d->name, q->index,
                  m->payload.state.num);
    vhu_vring_state st = {.index = q->index, .num = rc.num};
    return vub__reply(d, m, &st, sizeof(st), NULL, 0);
}

static void w_kick(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    vub_queue *q = rc->q;
    if (q->started) { /* a new kick fd for a running ring */
        vub__queue_set_kick(q, rc->fd);
        rc->rc = 0;
        return;
    }
    vub__queue_set_kick(q, rc->fd);
    rc->rc = vub__queue_start(q);
}

static void w_first_started(vub__worker *w, void *arg)
{
    int *first = arg;
    for (unsigned i = 0; i < w->nqueues; i++)
        if (w->queues[i]->started && (*first < 0 || w->queues[i]->index < (unsigned)*first))
            *first = (int)w->queues[i]->index;
}

int vub__first_started_ring(vub_daemon *d)
{
    int first = -1;
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_first_started, &first);
    return first;
}

static int start_ring(vub_daemon *d, vub_queue *q, int owned_fd)
{
    if (vub__xfer_busy(d)) { /* state_save/state_load run on a suspended device (device.h) */
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: not started: a device state transfer is running", d->name,
                  q->index);
        cvmm_close(&owned_fd);
        return -EBUSY;
    }
    if (q->addr_set && !q->addr_applied) {
        int rc = apply_addrs(d, q);
        if (rc < 0) {
            cvmm_close(&owned_fd);
            return rc == -EAGAIN ? -EPROTO : rc;
        }
    }
    struct ring_call rc = {.q = q, .fd = owned_fd};
    vub__worker_call(q->w, w_kick, &rc);
    return rc.rc;
}

int vub__h_set_vring_kick(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.u64 & VHU_VRING_IDX_MASK];
    int fd = (m->payload.u64 & VHU_VRING_NOFD_MASK) ? -1 : vhu_msg_take_fd(m, 0);
    return start_ring(d, q, fd);
}

void vub__w_set_call(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    cvmm_close(&rc->q->call_fd);
    rc->q->call_fd = rc->fd;
    rc->q->full_logged = false;
}

void vub__w_set_err(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    cvmm_close(&rc->q->err_fd);
    rc->q->err_fd = rc->fd;
    rc->q->err_signalled = false;
    rc->q->full_logged = false;
}

int vub__h_set_vring_fd(vub_daemon *d, vhu_msg *m, void (*fn)(vub__worker *, void *))
{
    vub_queue *q = &d->queues[m->payload.u64 & VHU_VRING_IDX_MASK];
    struct ring_call rc = {.q = q, .fd = (m->payload.u64 & VHU_VRING_NOFD_MASK) ? -1 : vhu_msg_take_fd(m, 0)};
    /* The fd is an eventfd, made non-blocking (vub__msg_fds_ok()): writing it never blocks the worker. */
    vub__worker_call(q->w, fn, &rc);
    return 0;
}

static void w_enable(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    vub_queue *q = rc->q;
    bool en = rc->num != 0;
    if (q->enabled == en)
        return;
    q->enabled = en;
    vq_queue_set_enabled(q->vq, en);
    rc->rc = vub__dev_queue_enabled(q->d, q, en);
    if (en && q->started) /* buffers queued while disabled may wait for the device now */
        atomic_store_explicit(&q->kick_pending, true, memory_order_relaxed);
}

int vub__h_set_vring_enable(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.state.index];
    struct ring_call rc = {.q = q, .num = m->payload.state.num};
    vub__worker_call(q->w, w_enable, &rc);
    return rc.rc;
}

static void w_inband_kick(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    rc->rc = rc->q->started;
    if (rc->q->started) /* after the answer: see vub__queue_start() */
        atomic_store_explicit(&rc->q->kick_pending, true, memory_order_relaxed);
}

int vub__h_vring_kick(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.state.index];
    struct ring_call rc = {.q = q};
    vub__worker_call(q->w, w_inband_kick, &rc);
    /* In-band VRING_KICK also starts a stopped ring (spec "Ring states"). */
    return rc.rc ? 0 : start_ring(d, q, -1);
}

/* ---- reset ---- */

static void w_reset(vub__worker *w, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        vub__queue_stop(q);
        vub__queue_set_kick(q, -1);
        cvmm_close(&q->call_fd);
        cvmm_close(&q->err_fd);
        vq_queue_reset(q->vq);
        q->enabled = false;
        q->inband = false;
        q->err_signalled = false;
        q->full_logged = false;
        atomic_store_explicit(&q->kick_pending, false, memory_order_relaxed);
    }
}

void vub__ctl_reset(vub_daemon *d)
{
    vub__xfer_cut(d); /* the device's state op must not run beside its reset op */
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_reset, NULL);
    for (unsigned i = 0; i < d->nqueues; i++) {
        vub_queue *q = &d->queues[i];
        q->num = 0;
        q->addr_set = q->addr_applied = false;
    }
    vub__dev_reset(d);
}

void vub__w_disable_all(vub__worker *w, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        struct ring_call rc = {.q = w->queues[i], .num = 0};
        w_enable(w, &rc);
    }
}

int vub__h_reset_device(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    vub__ctl_reset(d);
    c->features = 0;
    c->features_set = false;
    atomic_store_explicit(&d->features_acked, 0, memory_order_release);
    c->status = 0;
    bool inband = (c->proto & PBIT(INBAND_NOTIFICATIONS)) != 0;
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], vub__w_set_inband, &inband);
    return vub__update_log(d);
}

void vub__w_set_inband(vub__worker *w, void *arg)
{
    bool inband = *(bool *)arg;
    for (unsigned i = 0; i < w->nqueues; i++)
        w->queues[i]->inband = inband;
}
