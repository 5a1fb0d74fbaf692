/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The protocol state machine: one handler per front-end message, all on the control thread.
 *
 * The endpoint (vhu_backend_recv()) has validated every message against the table before it gets here:
 * payload size, fd count, gating protocol feature, vring index < num_queues, field values.  A handler
 * returns 0 or -errno; dispatch() turns that into a REPLY_ACK when one is owed.  Handlers of messages
 * with an explicit reply send it themselves, on every path (an error form where the spec has one).
 *
 * Rings: the vq_queue of a ring belongs to its worker thread, so every change to it runs there through
 * vub__worker_call() (the control thread waits).  Ring states follow the spec's "Ring states": started by
 * SET_VRING_KICK (or in-band VRING_KICK), stopped by GET_VRING_BASE, enabled/disabled on its own by
 * SET_VRING_ENABLE (accepted at any time, also before SET_FEATURES), all enabled by a SET_FEATURES
 * without VHOST_USER_F_PROTOCOL_FEATURES. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"
#include "internal.h"

#define PBIT(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

/* Protocol features the library always implements. */
#define PROTO_ALWAYS                                                                                         \
    (PBIT(MQ) | PBIT(LOG_SHMFD) | PBIT(REPLY_ACK) | PBIT(BACKEND_REQ) | PBIT(BACKEND_SEND_FD) |              \
     PBIT(RESET_DEVICE) | PBIT(CONFIGURE_MEM_SLOTS) | PBIT(STATUS) | PBIT(GPA_ADDRESSES))

static int reply(vub_daemon *d, const vhu_msg *m, const void *p, uint32_t size, const int *fds, uint32_t nfds)
{
    int rc = vhu_backend_reply(d->ctl->conn, m, p, size, fds, nfds);
    if (rc < 0 && rc != -EINVAL)
        d->ctl->conn_dead = true;
    return rc;
}

static int reply_u64(vub_daemon *d, const vhu_msg *m, uint64_t v) { return reply(d, m, &v, sizeof(v), NULL, 0); }

/* ---- guest memory ---- */

/* Publish @owned (taken) to the workers.  mem_gen is odd during the publish (see worker.c). */
static int publish(vub_daemon *d, vmem_map *owned)
{
    atomic_fetch_add_explicit(&d->mem_gen, 1, memory_order_seq_cst);
    int rc = vmem_guest_publish(d->guest, owned);
    atomic_fetch_add_explicit(&d->mem_gen, 1, memory_order_seq_cst);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_ERROR, "%s: publishing the memory map failed: %s", d->name, strerror(-rc));
        return rc;
    }
    (void)vub__dev_mem_changed(d, vmem_guest_map(d->guest));
    return 0;
}

static vmem_log *wanted_log(const vub_daemon *d)
{
    const struct vub__ctl *c = d->ctl;
    return c->dlog && (c->features & (1ull << VHU_F_LOG_ALL)) ? c->dlog : NULL;
}

/* Re-publish the current regions if the dirty log to use changed. */
static int update_log(vub_daemon *d)
{
    const vmem_map *cur = vmem_guest_map(d->guest);
    vmem_log *want = wanted_log(d);
    if (vmem_map_dirty_log(cur) == want)
        return 0;
    vmem_map *m;
    int rc = vmem_map_with_log(cur, want, &m);
    if (rc < 0)
        return rc;
    return publish(d, m);
}

static int region_from_wire(vub_daemon *d, const vhu_mem_region *w, int owned_fd, vmem_region **out)
{
    vmem_region_desc desc = {
        .gpa = w->guest_addr,
        .size = w->size,
        .user_addr = w->user_addr,
        .mmap_offset = w->mmap_offset,
    };
    int rc = vmem_region_new_fd(&desc, owned_fd, d->log, out);
    if (rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot map region gpa 0x%llx size 0x%llx: %s", d->name,
                  (unsigned long long)w->guest_addr, (unsigned long long)w->size, strerror(-rc));
    return rc;
}

static int h_set_mem_table(vub_daemon *d, vhu_msg *m)
{
    const vhu_mem_table *t = &m->payload.mem;
    vmem_region *regs[VHU_MEM_REGIONS_MAX] = {0};
    uint32_t n = t->nregions;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = region_from_wire(d, &t->regions[i], vhu_msg_take_fd(m, i), &regs[i]);
    vmem_map *map = NULL;
    if (rc == 0)
        rc = vmem_map_new(regs, n, wanted_log(d), d->log, &map);
    for (uint32_t i = 0; i < n; i++)
        vmem_region_unref(regs[i]);
    if (rc < 0)
        return rc;
    return publish(d, map);
}

static int h_add_mem_reg(vub_daemon *d, vhu_msg *m)
{
    vmem_region *r;
    int rc = region_from_wire(d, &m->payload.mem_reg.region, vhu_msg_take_fd(m, 0), &r);
    if (rc < 0)
        return rc;
    vmem_map *map;
    rc = vmem_map_with_region(vmem_guest_map(d->guest), r, &map);
    vmem_region_unref(r);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: ADD_MEM_REG refused: %s", d->name, strerror(-rc));
        return rc;
    }
    return publish(d, map);
}

static int h_rem_mem_reg(vub_daemon *d, vhu_msg *m)
{
    const vhu_mem_region *w = &m->payload.mem_reg.region;
    vmem_map *map;
    int rc = vmem_map_without_region(vmem_guest_map(d->guest), w->guest_addr, w->size, w->user_addr, &map);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: REM_MEM_REG of an unknown region gpa 0x%llx size 0x%llx", d->name,
                  (unsigned long long)w->guest_addr, (unsigned long long)w->size);
        return rc;
    }
    return publish(d, map); /* a passed fd (allowed by the spec) is closed after dispatch */
}

static int h_set_log_base(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    int rc;
    vmem_log *l = NULL;
    if (m->nfds != 1) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_LOG_BASE without a log fd", d->name);
        rc = -EBADF;
    } else {
        rc = vmem_log_new_fd(m->fds[0], m->payload.log.offset, m->payload.log.size, d->log, &l);
    }
    if (rc == 0) {
        vmem_log *old = c->dlog;
        c->dlog = l;
        rc = update_log(d);
        if (rc < 0) {
            c->dlog = old;
            vmem_log_unref(l);
        } else {
            vmem_log_unref(old); /* the published maps hold their own references */
        }
    }
    if (vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY)
        (void)reply_u64(d, m, rc == 0 ? 0 : 1);
    return rc;
}

static int h_set_log_fd(vub_daemon *d, vhu_msg *m)
{
    cvmm_close(&d->ctl->log_fd);
    d->ctl->log_fd = vhu_msg_take_fd(m, 0);
    return 0;
}

/* ---- features ---- */

struct features_call {
    enum vq_layout layout;
    bool event_idx;
    bool enable_all;
    int rc;
};

static void w_features(vub__worker *w, void *arg)
{
    struct features_call *fc = arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        int rc = 0;
        /* A running ring keeps its layout: SET_FEATURES while rings run (LOG_ALL for migration) is fine as
         * long as the ring features stay the same. */
        if (vq_queue_layout(q->vq) != fc->layout || vq_queue_event_idx(q->vq) != fc->event_idx)
            rc = vq_queue_set_features(q->vq, fc->layout, fc->event_idx);
        if (rc < 0) {
            cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: cannot change ring features: %s", q->d->name,
                      q->index, strerror(-rc));
            if (fc->rc == 0)
                fc->rc = rc;
        }
        if (fc->enable_all && !q->enabled) {
            q->enabled = true;
            vq_queue_set_enabled(q->vq, true);
            (void)vub__dev_queue_enabled(q->d, q, true);
        }
    }
}

static int h_set_features(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    uint64_t f = m->payload.u64;
    if (f & ~c->offered) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_FEATURES 0x%llx has bits we did not offer (0x%llx)", d->name,
                  (unsigned long long)f, (unsigned long long)(f & ~c->offered));
        return -EINVAL;
    }
    c->features = f;
    c->features_set = true;
    atomic_store_explicit(&d->features_acked, f, memory_order_release);
    struct features_call fc = {
        .layout = (f & (1ull << VUB_F_RING_PACKED)) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
        .event_idx = (f & (1ull << VUB_F_RING_EVENT_IDX)) != 0,
        .enable_all = !(f & (1ull << VHU_F_PROTOCOL_FEATURES)),
    };
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_features, &fc);
    int rc = update_log(d);
    int rc2 = vub__dev_features_acked(d, f);
    return fc.rc < 0 ? fc.rc : rc < 0 ? rc : rc2;
}

static void w_set_inband(vub__worker *w, void *arg)
{
    bool inband = *(bool *)arg;
    for (unsigned i = 0; i < w->nqueues; i++)
        w->queues[i]->inband = inband;
}

static int h_set_protocol_features(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    c->proto = m->payload.u64; /* the endpoint refused bits we did not offer */
    atomic_store_explicit(&d->proto_acked, c->proto, memory_order_release);
    bool inband = (c->proto & PBIT(INBAND_NOTIFICATIONS)) != 0;
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_set_inband, &inband);
    return 0;
}

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

static int h_set_vring_num(vub_daemon *d, vhu_msg *m)
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
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: SET_VRING_ADDR refused: %s", d->name, q->index,
                  strerror(-rc.rc));
        return rc.rc;
    }
    q->addr_applied = true;
    return 0;
}

static int h_set_vring_addr(vub_daemon *d, vhu_msg *m)
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

static int h_set_vring_base(vub_daemon *d, vhu_msg *m)
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

static int h_get_vring_base(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.state.index];
    struct ring_call rc = {.q = q};
    vub__worker_call(q->w, w_stop, &rc);
    vhu_vring_state st = {.index = q->index, .num = rc.num};
    return reply(d, m, &st, sizeof(st), NULL, 0);
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

static int start_ring(vub_daemon *d, vub_queue *q, int owned_fd)
{
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

static int h_set_vring_kick(vub_daemon *d, vhu_msg *m)
{
    vub_queue *q = &d->queues[m->payload.u64 & VHU_VRING_IDX_MASK];
    int fd = (m->payload.u64 & VHU_VRING_NOFD_MASK) ? -1 : vhu_msg_take_fd(m, 0);
    return start_ring(d, q, fd);
}

static void w_set_call(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    cvmm_close(&rc->q->call_fd);
    rc->q->call_fd = rc->fd;
}

static void w_set_err(vub__worker *w, void *arg)
{
    (void)w;
    struct ring_call *rc = arg;
    cvmm_close(&rc->q->err_fd);
    rc->q->err_fd = rc->fd;
    rc->q->err_signalled = false;
}

static bool is_eventfd(int fd)
{
    char path[32], target[32];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

static int h_set_vring_fd(vub_daemon *d, vhu_msg *m, void (*fn)(vub__worker *, void *))
{
    vub_queue *q = &d->queues[m->payload.u64 & VHU_VRING_IDX_MASK];
    struct ring_call rc = {.q = q, .fd = (m->payload.u64 & VHU_VRING_NOFD_MASK) ? -1 : vhu_msg_take_fd(m, 0)};
    /* A worker must never block on a front-end's fd: an eventfd only blocks a writer at a counter of
     * 2^64 - 2, but a full pipe passed instead would stall the worker and, through vub__worker_call(), the
     * control thread.  Anything that is not an eventfd is made non-blocking (the flag is shared with the
     * front-end's copy, so eventfds, whatever the front-end chose, are left alone). */
    if (rc.fd >= 0 && !is_eventfd(rc.fd)) {
        int fl = fcntl(rc.fd, F_GETFL);
        if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(rc.fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "%s: vq%u: unusable notification fd: %s", d->name, q->index,
                      strerror(errno));
            cvmm_close(&rc.fd);
            return -EBADF;
        }
    }
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

static int h_set_vring_enable(vub_daemon *d, vhu_msg *m)
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

static int h_vring_kick(vub_daemon *d, vhu_msg *m)
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
        atomic_store_explicit(&q->kick_pending, false, memory_order_relaxed);
    }
}

void vub__ctl_reset(vub_daemon *d)
{
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_reset, NULL);
    for (unsigned i = 0; i < d->nqueues; i++) {
        vub_queue *q = &d->queues[i];
        q->num = 0;
        q->addr_set = q->addr_applied = false;
    }
    vub__dev_reset(d);
}

static void w_disable_all(vub__worker *w, void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        struct ring_call rc = {.q = w->queues[i], .num = 0};
        w_enable(w, &rc);
    }
}

static int h_reset_device(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    vub__ctl_reset(d);
    c->features = 0;
    c->features_set = false;
    atomic_store_explicit(&d->features_acked, 0, memory_order_release);
    c->status = 0;
    bool inband = (c->proto & PBIT(INBAND_NOTIFICATIONS)) != 0;
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_set_inband, &inband);
    return update_log(d);
}

/* ---- config space, shmem, status ---- */

static int h_get_config(vub_daemon *d, vhu_msg *m)
{
    const vhu_config *in = &m->payload.config;
    vhu_config *out = malloc(sizeof(*out));
    if (!out) {
        (void)reply(d, m, NULL, 0, NULL, 0); /* empty payload: the spec's error form */
        return -ENOMEM;
    }
    out->offset = in->offset;
    out->size = in->size;
    out->flags = in->flags;
    int rc = vub__dev_get_config(d, in->offset, out->data, in->size);
    if (rc == 0)
        (void)reply(d, m, out, VHU_CONFIG_HDR_SIZE + in->size, NULL, 0);
    else
        (void)reply(d, m, NULL, 0, NULL, 0);
    free(out);
    return rc;
}

static int h_set_config(vub_daemon *d, vhu_msg *m)
{
    const vhu_config *in = &m->payload.config;
    return vub__dev_set_config(d, in->offset, in->data, in->size, in->flags);
}

/* The device's shmem config, asked once per connection (fixed for the connection, as the spec says). */
static const vhu_shmem_config *shmem_config(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (!c->shmem_cached) {
        (void)vub__dev_get_shmem_config(d, &c->shmem); /* zeroed on failure */
        c->shmem_cached = true;
        vub__backend_set_shmem(&d->backend, &c->shmem);
    }
    return &c->shmem;
}

static int h_get_shmem_config(vub_daemon *d, vhu_msg *m)
{
    vhu_shmem_config *zero = NULL;
    const vhu_shmem_config *cfg;
    if (vub__dev_has_shmem(d)) {
        cfg = shmem_config(d);
    } else {
        cvmm_logf(d->log, CVMM_LOG_INFO, "%s: GET_SHMEM_CONFIG: the device has no shared memory, replying zeroed",
                  d->name);
        zero = calloc(1, sizeof(*zero));
        if (!zero)
            return -ENOMEM;
        cfg = zero;
    }
    int rc = reply(d, m, cfg, sizeof(*cfg), NULL, 0);
    free(zero);
    return rc;
}

/* GET_SHMEM_CONFIG the endpoint refused because F_SHMEM was not negotiated: a zeroed config, as the
 * issue asks (a front-end that sends it anyway must not wait forever).  vhu_backend_reply() validates
 * replies against the negotiated features and would refuse it, so the frame is written here: header and
 * 2056 zero bytes in one send() (nothing else is in flight on the socket between messages). */
static void reply_zero_shmem(vub_daemon *d, vhu_msg *m)
{
    struct {
        vhu_hdr h;
        vhu_shmem_config c;
    } __attribute__((packed)) *f = calloc(1, sizeof(*f));
    cvmm_logf(d->log, CVMM_LOG_WARN, "%s: GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM negotiated, "
              "replying zeroed", d->name);
    if (!f) {
        d->ctl->conn_dead = true;
        return;
    }
    f->h.request = m->hdr.request;
    f->h.flags = VHU_VERSION | VHU_FLAG_REPLY;
    f->h.size = sizeof(f->c);
    int fd = vhu_backend_fd(d->ctl->conn);
    size_t done = 0;
    while (done < sizeof(*f)) {
        ssize_t n = send(fd, (const char *)f + done, sizeof(*f) - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 5000) != 1)
                break;
        } else {
            break;
        }
    }
    if (done != sizeof(*f))
        d->ctl->conn_dead = true;
    free(f);
}

/* ---- inflight I/O tracking buffer (spec "Inflight I/O tracking") ---- */

#define INFLIGHT_ALIGN 64u
#define INFLIGHT_SPLIT_HDR 16u   /* features u64, version, desc_num, last_batch_head, used_idx */
#define INFLIGHT_SPLIT_DESC 16u  /* DescStateSplit */
#define INFLIGHT_PACKED_HDR 32u  /* 29 bytes of fields, padded to the 8-byte alignment of desc[] */
#define INFLIGHT_PACKED_DESC 32u /* DescStatePacked */

static uint64_t inflight_queue_bytes(bool packed, uint16_t queue_size)
{
    uint64_t b = packed ? INFLIGHT_PACKED_HDR + (uint64_t)INFLIGHT_PACKED_DESC * queue_size
                        : INFLIGHT_SPLIT_HDR + (uint64_t)INFLIGHT_SPLIT_DESC * queue_size;
    return (b + INFLIGHT_ALIGN - 1) & ~(uint64_t)(INFLIGHT_ALIGN - 1);
}

struct inflight_call {
    uint8_t *base;
    uint64_t per;
    unsigned nq;
};

static void w_inflight(vub__worker *w, void *arg)
{
    struct inflight_call *ic = arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        bool has = ic->base && q->index < ic->nq;
        q->inflight = has ? ic->base + ic->per * q->index : NULL;
        q->inflight_size = has ? ic->per : 0;
    }
}

/* Give the queues their regions of a new buffer (NULL: none); workers let go of the old one first. */
static void inflight_publish(vub_daemon *d, void *base, uint64_t per, unsigned nq)
{
    struct inflight_call ic = {.base = base, .per = per, .nq = nq};
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_inflight, &ic);
}

static void inflight_unmap(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    inflight_publish(d, NULL, 0, 0);
    if (c->inflight)
        munmap(c->inflight, c->inflight_size);
    c->inflight = NULL;
    c->inflight_size = 0;
}

static int h_get_inflight_fd(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    vhu_inflight in = {0};
    memcpy(&in, &m->payload.inflight, m->hdr.size < sizeof(in) ? m->hdr.size : sizeof(in));
    vhu_inflight out = {.num_queues = in.num_queues, .queue_size = in.queue_size};
    bool packed = (c->features & (1ull << VUB_F_RING_PACKED)) != 0;
    uint64_t per = inflight_queue_bytes(packed, in.queue_size), total = per * in.num_queues;
    int fd = -1, rc = 0;
    void *p = MAP_FAILED;
    if (in.num_queues == 0 || in.num_queues > d->nqueues || in.queue_size == 0 ||
        in.queue_size > d->max_queue_size) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: GET_INFLIGHT_FD for %u queues of %u entries refused", d->name,
                  in.num_queues, in.queue_size);
        rc = -EINVAL;
        goto out;
    }
    fd = memfd_create("cvmm-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0 || ftruncate(fd, (off_t)total) < 0 ||
        (p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        rc = -errno;
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot create the inflight buffer: %s", d->name, strerror(errno));
        goto out;
    }
    for (unsigned i = 0; i < in.num_queues; i++) { /* version 1, desc_num; the rest is zero */
        uint8_t *qr = (uint8_t *)p + per * i;
        uint16_t version = 1, num = in.queue_size;
        memcpy(qr + 8, &version, 2);
        memcpy(qr + 10, &num, 2);
    }
    inflight_unmap(d);
    c->inflight = p;
    c->inflight_size = total;
    inflight_publish(d, p, per, in.num_queues);
    out.mmap_size = total;
    out.mmap_offset = 0;
out:
    /* mmap_size 0 and no fd is the error form front-ends check for */
    (void)reply(d, m, &out, sizeof(out), rc == 0 ? &fd : NULL, rc == 0 ? 1 : 0);
    cvmm_close(&fd);
    return rc;
}

static int h_set_inflight_fd(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    vhu_inflight in = {0};
    memcpy(&in, &m->payload.inflight, m->hdr.size < sizeof(in) ? m->hdr.size : sizeof(in));
    bool packed = (c->features & (1ull << VUB_F_RING_PACKED)) != 0;
    uint64_t per = inflight_queue_bytes(packed, in.queue_size);
    if (in.mmap_size == 0 || in.mmap_size > SIZE_MAX || in.num_queues > d->nqueues || in.queue_size == 0 ||
        per * in.num_queues > in.mmap_size) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_INFLIGHT_FD with size %llu for %u queues refused", d->name,
                  (unsigned long long)in.mmap_size, in.num_queues);
        return -EINVAL;
    }
    void *p = mmap(NULL, in.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[0], (off_t)in.mmap_offset);
    if (p == MAP_FAILED) {
        int e = errno;
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot map the inflight buffer: %s", d->name, strerror(e));
        return -e;
    }
    inflight_unmap(d);
    c->inflight = p;
    c->inflight_size = in.mmap_size;
    inflight_publish(d, p, per, in.num_queues);
    return 0;
}

/* ---- device state transfer (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE) ---- */

static void *xfer_main(void *arg)
{
    vub_daemon *d = arg;
    struct vub__ctl *c = d->ctl;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE); /* a front-end that closed its end gives EPIPE, not a dead process */
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    c->xfer_rc = vub__dev_state_transfer(d, c->xfer_dir, c->xfer_fd);
    cvmm_close(&c->xfer_fd);
    return NULL;
}

static int xfer_join(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (!c->xfer_running)
        return -EPROTO;
    pthread_join(c->xfer, NULL);
    c->xfer_running = false;
    return c->xfer_rc;
}

static int h_set_device_state_fd(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    const vhu_device_state *ts = &m->payload.transfer_state;
    int rc = 0;
    if (c->xfer_running)
        (void)xfer_join(d); /* a previous transfer the front-end never checked */
    c->xfer_done = false;
    if (ts->phase != VHU_TRANSFER_STATE_PHASE_STOPPED || ts->direction > VHU_TRANSFER_STATE_DIRECTION_LOAD) {
        rc = -EINVAL;
    } else {
        c->xfer_dir = ts->direction == VHU_TRANSFER_STATE_DIRECTION_SAVE ? VUB_STATE_SAVE : VUB_STATE_LOAD;
        if ((c->xfer_dir == VUB_STATE_SAVE && !d->ops->state_save) ||
            (c->xfer_dir == VUB_STATE_LOAD && !d->ops->state_load)) {
            rc = vub__dev_state_transfer(d, c->xfer_dir, -1); /* logs, -ENOTSUP */
        } else {
            c->xfer_fd = vhu_msg_take_fd(m, 0);
            c->xfer_rc = 0;
            int e = pthread_create(&c->xfer, NULL, xfer_main, d);
            if (e != 0) {
                cvmm_close(&c->xfer_fd);
                rc = -e;
            } else {
                c->xfer_running = true;
            }
        }
    }
    if (rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_DEVICE_STATE_FD refused: %s", d->name, strerror(-rc));
    (void)reply_u64(d, m, VHU_DEVICE_STATE_NOFD_MASK | (rc < 0 ? 1u : 0u));
    return rc;
}

static int h_check_device_state(vub_daemon *d, vhu_msg *m)
{
    int rc = xfer_join(d);
    if (rc == -EPROTO)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: CHECK_DEVICE_STATE without a transfer", d->name);
    (void)reply_u64(d, m, rc == 0 ? 0 : 1);
    return rc;
}

/* ---- dispatch ---- */

void vub__ctl_dispatch(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    int rc = 0;
    cvmm_logf(d->log, CVMM_LOG_DEBUG, "%s: %s size %u fds %u", d->name, vhu_req_name(m->hdr.request), m->hdr.size,
              m->nfds);
    switch (m->hdr.request) {
    case VHU_REQ_GET_FEATURES:
        (void)reply_u64(d, m, c->offered);
        return;
    case VHU_REQ_SET_FEATURES: rc = h_set_features(d, m); break;
    case VHU_REQ_GET_PROTOCOL_FEATURES:
        (void)reply_u64(d, m, c->offered_proto);
        return;
    case VHU_REQ_SET_PROTOCOL_FEATURES: rc = h_set_protocol_features(d, m); break;
    case VHU_REQ_SET_OWNER: c->owner = true; break;
    case VHU_REQ_RESET_OWNER: /* deprecated: the spec recommends disabling every ring */
        for (unsigned i = 0; i < d->nworkers; i++)
            vub__worker_call(&d->workers[i], w_disable_all, NULL);
        break;
    case VHU_REQ_SET_MEM_TABLE: rc = h_set_mem_table(d, m); break;
    case VHU_REQ_ADD_MEM_REG: rc = h_add_mem_reg(d, m); break;
    case VHU_REQ_REM_MEM_REG: rc = h_rem_mem_reg(d, m); break;
    case VHU_REQ_GET_MAX_MEM_SLOTS:
        (void)reply_u64(d, m, VMEM_MAX_REGIONS);
        return;
    case VHU_REQ_SET_LOG_BASE: rc = h_set_log_base(d, m); break;
    case VHU_REQ_SET_LOG_FD: rc = h_set_log_fd(d, m); break;
    case VHU_REQ_SET_VRING_NUM: rc = h_set_vring_num(d, m); break;
    case VHU_REQ_SET_VRING_ADDR: rc = h_set_vring_addr(d, m); break;
    case VHU_REQ_SET_VRING_BASE: rc = h_set_vring_base(d, m); break;
    case VHU_REQ_GET_VRING_BASE:
        (void)h_get_vring_base(d, m);
        return;
    case VHU_REQ_SET_VRING_KICK: rc = h_set_vring_kick(d, m); break;
    case VHU_REQ_SET_VRING_CALL: rc = h_set_vring_fd(d, m, w_set_call); break;
    case VHU_REQ_SET_VRING_ERR: rc = h_set_vring_fd(d, m, w_set_err); break;
    case VHU_REQ_GET_QUEUE_NUM:
        (void)reply_u64(d, m, d->nqueues);
        return;
    case VHU_REQ_SET_VRING_ENABLE: rc = h_set_vring_enable(d, m); break;
    case VHU_REQ_VRING_KICK: rc = h_vring_kick(d, m); break;
    case VHU_REQ_SET_BACKEND_REQ_FD: vub__backend_set(&d->backend, vhu_msg_take_fd(m, 0), c->proto); break;
    case VHU_REQ_GET_CONFIG:
        (void)h_get_config(d, m);
        return;
    case VHU_REQ_SET_CONFIG: rc = h_set_config(d, m); break;
    case VHU_REQ_SET_STATUS: c->status = m->payload.u64; break;
    case VHU_REQ_GET_STATUS:
        (void)reply_u64(d, m, c->status);
        return;
    case VHU_REQ_RESET_DEVICE: rc = h_reset_device(d); break;
    case VHU_REQ_GET_SHMEM_CONFIG:
        (void)h_get_shmem_config(d, m);
        return;
    case VHU_REQ_GET_INFLIGHT_FD:
        (void)h_get_inflight_fd(d, m);
        return;
    case VHU_REQ_SET_INFLIGHT_FD: rc = h_set_inflight_fd(d, m); break;
    case VHU_REQ_SET_DEVICE_STATE_FD:
        (void)h_set_device_state_fd(d, m);
        return;
    case VHU_REQ_CHECK_DEVICE_STATE:
        (void)h_check_device_state(d, m);
        return;
    case VHU_REQ_GET_SHARED_OBJECT: /* we export no dma-bufs: the answer without an fd is "not found" */
        cvmm_logf(d->log, CVMM_LOG_INFO, "%s: GET_SHARED_OBJECT: no exported object", d->name);
        (void)reply(d, m, NULL, 0, NULL, 0);
        return;
    case VHU_REQ_IOTLB_MSG: /* VIRTIO_F_ACCESS_PLATFORM is never offered: no IOTLB */
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: IOTLB_MSG without an IOMMU", d->name);
        (void)reply_u64(d, m, 1);
        return;
    default:
        /* Messages whose gating feature we never offer cannot get here (the endpoint refuses them);
         * the rest (GPU_SET_SOCKET, ...) are not for a generic device. */
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: %s not supported", d->name, vhu_req_name(m->hdr.request));
        rc = -ENOTSUP;
        if (vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY) {
            (void)reply_u64(d, m, 1); /* every remaining explicit reply is a u64 status */
            return;
        }
        break;
    }
    if (vhu_backend_ack(c->conn, m, rc) < 0)
        c->conn_dead = true;
}

bool vub__ctl_rejected(vub_daemon *d, vhu_msg *m, int rc)
{
    struct vub__ctl *c = d->ctl;
    if (rc == -EPROTO && m->hdr.request == VHU_REQ_GET_SHMEM_CONFIG && !(m->hdr.flags & VHU_FLAG_REPLY) &&
        !(c->proto & PBIT(SHMEM))) {
        reply_zero_shmem(d, m);
        return !c->conn_dead;
    }
    /* The endpoint answered what has an error form; a request that owes an explicit reply without one
     * (e.g. GET_VRING_BASE of a queue we do not have) cannot be answered: close, so the front-end does not
     * wait forever. */
    if (m->hdr.request != VHU_REQ_GET_CONFIG && vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY)
        return false;
    if (rc == -EPROTO && m->hdr.request == VHU_REQ_SET_PROTOCOL_FEATURES)
        return false; /* bits we did not offer, or in-band without its companions: the spec says close */
    return true;
}

void vub__ctl_connected(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    c->offered = d->info->features | (1ull << VHU_F_PROTOCOL_FEATURES) | (1ull << VHU_F_LOG_ALL);
    c->offered &= ~(1ull << VUB_F_ACCESS_PLATFORM); /* no IOTLB */
    c->offered_proto = PROTO_ALWAYS | (d->info->protocol_features & VUB_PROTOCOL_OPTIONAL);
    if (vub__dev_has_config(d))
        c->offered_proto |= PBIT(CONFIG);
    if (vub__dev_has_shmem(d))
        c->offered_proto |= PBIT(SHMEM);
    if (vub__dev_has_state(d))
        c->offered_proto |= PBIT(DEVICE_STATE);
    c->features = 0;
    c->features_set = false;
    atomic_store_explicit(&d->features_acked, 0, memory_order_release);
    c->proto = 0;
    atomic_store_explicit(&d->proto_acked, 0, memory_order_release);
    c->owner = false;
    c->status = 0;
    c->shmem_cached = false;
}

void vub__ctl_disconnected(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    vub__backend_set(&d->backend, -1, 0);
    vub__ctl_reset(d);
    if (c->xfer_running)
        (void)xfer_join(d);
    vmem_map *empty;
    if (vmem_map_new(NULL, 0, NULL, d->log, &empty) == 0)
        (void)publish(d, empty);
    vmem_log_unref(c->dlog);
    c->dlog = NULL;
    cvmm_close(&c->log_fd);
    inflight_unmap(d);
    c->features = 0;
    atomic_store_explicit(&d->features_acked, 0, memory_order_release);
    c->proto = 0;
    atomic_store_explicit(&d->proto_acked, 0, memory_order_release);
    c->shmem_cached = false;
    vub__backend_set_shmem(&d->backend, NULL);
}
